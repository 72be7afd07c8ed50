"""Groups as data: a diagram from elsewhere (lanes "Manager" and "Employee") mapped to groups
at deploy and completed by their members; several candidate groups in every group's inbox;
tasks offered to nobody refused by name; a task nobody may act on told and unblocked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.errors import DeploymentRejected, InvalidInput
from partnerflow.engine.runtime import deployment, notifications, queries, services
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Notification,
    ProcessVersion,
    TaskOffer,
)
from tests.conftest import FIXTURES, announce, make_user

LEAVE = FIXTURES / "lanes" / "leave_request.bpmn"
PROCESS = "Process_leave_request"
MAPPING = {"Manager": "managers", "Employee": "professional"}


def _deploy(pf, content: bytes | None = None, mapping=None):
    with pf.uow() as uow:
        result = deployment.deploy(uow.session, [(LEAVE.name, content or LEAVE.read_bytes())],
                                   actor="denis", at=uow.clock(), forms=pf.forms,
                                   max_bytes=pf.settings.max_upload_bytes, lane_mapping=mapping)
        uow.commit()
    return result


def _group(pf, key, fr, en):
    with pf.uow() as uow:
        accounts.create_group(uow, key=key, label_fr=fr, label_en=en, actor="ines")


@pytest.fixture
def people(fixture_pf):
    pf = fixture_pf
    _group(pf, "managers", "Responsables", "Line managers")
    make_user(pf, "maria", "managers")
    make_user(pf, "eric", "professional")
    make_user(pf, "claire", "direction")
    make_user(pf, "ines", "admin")
    return pf


def _open(pf, username):
    with pf.read() as db:
        return [(r.id, r.title) for r in queries.inbox(db, username, pf.clock())]


def _complete(pf, task_id, actor):
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor=actor, data={})


def test_lanes_named_after_no_group_are_refused_and_listed_for_mapping(people):
    with pytest.raises(DeploymentRejected) as refused:
        _deploy(people)
    lanes = {(lane.lane_id, lane.name, lane.tasks) for lane in refused.value.unmapped_lanes}
    assert lanes == {("Lane_manager", "Manager", ("Task_approve", "Task_joint_review")),
                     ("Lane_employee", "Employee", ("Task_prepare", "Task_file_paper"))}
    assert {p.element_id for p in refused.value.problems} == {"Lane_manager", "Lane_employee"}
    assert all("associez-le à un groupe" in p.hint for p in refused.value.problems)


def test_a_mapping_to_no_group_is_refused(people):
    with pytest.raises(DeploymentRejected) as refused:
        _deploy(people, mapping={"Manager": "chefs", "Employee": "professional"})
    assert any("« chefs », qui n’est pas un groupe" in p.message for p in refused.value.problems)


def test_a_mapped_diagram_is_completed_by_the_members_of_the_mapped_groups(people):
    pf = people
    [item] = _deploy(pf, mapping=MAPPING).items
    with pf.read() as db:
        assert db.get(ProcessVersion, item.version_id).lane_mapping == {
            "Employee": "professional", "Manager": "managers"}
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Congés", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key=PROCESS, actor="claire")

    [(approve, title)] = _open(pf, "maria")
    assert title == "Approve the request" and _open(pf, "eric") == [] and _open(pf, "claire") == []
    _complete(pf, approve, "maria")
    [(prepare, title)] = _open(pf, "eric")
    assert title == "Prepare the handover" and _open(pf, "maria") == []
    _complete(pf, prepare, "eric")
    # a manual task in a lane gets the lane's group like a user task
    [(paper, title)] = _open(pf, "eric")
    assert title == "File the paper copy"
    _complete(pf, paper, "eric")

    # candidateGroups="direction,professional": in both groups' inboxes, counted once each
    [(review, title)] = _open(pf, "claire")
    assert title == "Review together" and _open(pf, "eric") == [(review, title)]
    assert _open(pf, "maria") == []
    announce(pf)
    with pf.read() as db:
        assert queries.inbox_count(db, "claire") == queries.inbox_count(db, "eric") == 1
        assert {(o.kind, o.key) for o in db.scalars(select(TaskOffer).where(
            TaskOffer.task_id == review))} == {("group", "direction"), ("group", "professional")}
        told = {n.username for n in db.scalars(select(Notification).where(
            Notification.task_id == review))}
        assert told == {"claire", "eric"}
    _complete(pf, review, "eric")
    with pf.read() as db:
        assert db.get(HumanTask, review).completed_by == "eric"
        assert db.scalar(select(TaskOffer).where(TaskOffer.task_id == review)) is None


def test_someone_in_both_groups_sees_a_task_of_two_groups_once(people):
    pf = people
    make_user(pf, "both", "direction", "professional")
    _deploy(pf, LEAVE.read_bytes().replace(b'<bpmn:userTask id="Task_approve" name="Approve the request">',
                                           b'<bpmn:userTask id="Task_approve" name="Approve the request" '
                                           b'camunda:candidateGroups="direction,professional">'),
            mapping=MAPPING)
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Congés", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key=PROCESS, actor="claire")
    assert [t for _i, t in _open(pf, "both")] == ["Approve the request"]
    with pf.read() as db:
        assert queries.inbox_count(db, "both") == 1


def test_the_mapping_is_part_of_the_version(people):
    pf = people
    first = _deploy(pf, mapping=MAPPING).items[0]
    assert _deploy(pf, mapping=MAPPING).items[0].created is False
    other = _deploy(pf, mapping={"Manager": "direction", "Employee": "professional"}).items[0]
    assert other.created and other.version == first.version + 1


def test_a_lane_named_after_a_groups_label_needs_no_mapping(people):
    pf = people
    _group(pf, "staff", "Salariés", "Employee")
    content = LEAVE.read_bytes().replace(b'name="Manager"', b'name="responsables"')
    assert _deploy(pf, content).items[0].created


def test_a_task_offered_to_nobody_is_refused_naming_it(people):
    # out of their lane, with no candidate group, candidate user or assignee
    content = LEAVE.read_bytes().replace(b"<bpmn:flowNodeRef>Task_prepare</bpmn:flowNodeRef>", b"")
    content = content.replace(b"<bpmn:flowNodeRef>Task_file_paper</bpmn:flowNodeRef>", b"")
    with pytest.raises(DeploymentRejected) as refused:
        _deploy(people, content, mapping=MAPPING)
    nobody = {p.element_id: p for p in refused.value.problems if "n’est proposée à personne" in p.message}
    assert set(nobody) == {"Task_prepare", "Task_file_paper"}
    assert "tâche manuelle" in nobody["Task_file_paper"].message
    assert "tâche utilisateur" in nobody["Task_prepare"].message and nobody["Task_prepare"].hint


def test_groups_are_created_with_two_labels_and_refuse_names_already_taken(people):
    pf = people
    for key, fr, en, field in [("", "A", "A", "key"), ("Cuisine!", "Cuisine", "Kitchen", "key"),
                               ("kitchen", "", "Kitchen", "label_fr"),
                               ("kitchen", "Direction", "Kitchen", "label_fr"),
                               ("responsables", "Chefs", "Bosses", "key")]:
        with pytest.raises(InvalidInput) as refused, pf.uow() as uow:
            accounts.create_group(uow, key=key, label_fr=fr, label_en=en, actor="ines")
        assert field in refused.value.errors, (key, fr)
    _group(pf, "kitchen", "Cuisine", "Kitchen staff")
    with pf.uow() as uow:
        accounts.add_member(uow, group_key="kitchen", username="eric", actor="ines")
    with pf.read() as db:
        assert access.actor(db, "eric").roles == {"professional", "kitchen"}
        assert [u.username for u in accounts.group_members(db)["kitchen"]] == ["eric"]
    with pf.uow() as uow:
        accounts.remove_member(uow, group_key="kitchen", username="eric", actor="ines")
    with pf.read() as db:
        assert access.actor(db, "eric").roles == {"professional"}
        types = [e.type for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert {"group_created", "group_member_added", "group_member_removed"} <= set(types)


PARTNER_TASK = (FIXTURES / "lanes" / "partner_comment.bpmn").read_bytes()


def test_a_task_nobody_may_act_on_is_recorded_and_told_to_the_direction_and_delegate(people):
    pf = people
    make_user(pf, "paul", "partner")
    make_user(pf, "karim", "delegate", "professional")
    with pf.uow() as uow:
        deployment.deploy(uow.session, [("partner_comment.bpmn", PARTNER_TASK)], actor="denis",
                          at=uow.clock(), forms=pf.forms, max_bytes=pf.settings.max_upload_bytes)
        uow.commit()
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Projet commun", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="partner_comment",
                                actor="claire", data={"delegate": "karim"})
    assert _open(pf, "paul") == []  # paul is not attached to this partnership
    announce(pf)  # the worker finds nobody to tell, and tells who can unblock it
    with pf.read() as db:
        [task] = queries.tasks_of_partnership(db, pid)
        assert notifications.recipients_for_task(db, task) == []
        [event] = db.scalars(select(AuditEvent).where(
            AuditEvent.type == "task_waiting_for_contact")).all()
        assert event.element_id == "comment_v1" and event.payload["groups"] == ["partner"]
        told = {(n.username, n.kind) for n in db.scalars(select(Notification))}
        assert told == {("claire", "task_waiting"), ("karim", "task_waiting")}
        delegate = access.actor(db, "karim")
        ref = access.PartnershipRef(pid, "karim")
        assert access.may(delegate, "attach_contact", ref)
        assert not access.may(access.actor(db, "eric"), "attach_contact", ref)
        assert queries.unattached_partner_contacts(db, pid) == [("paul", "Paul")]
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username="paul", actor="karim")
    assert [t for _i, t in _open(pf, "paul")] == ["Commenter la version 1"]
