"""What changed between two versions of a process."""

from __future__ import annotations

from pathlib import Path

from partnerflow.engine.runtime.deployment import diff_sources

LOOP = (Path(__file__).resolve().parent.parent / "fixtures" / "review_loop.bpmn").read_text()


def test_a_renamed_task_and_an_edited_condition_are_changed_and_nothing_else():
    new = LOOP.replace('name="Relire le document"', 'name="Relire la convention"').replace(
        'decision == "again"', 'decision == "encore"')
    diff = diff_sources(LOOP, new, "review_loop.bpmn")
    assert sorted(diff.changed) == ["flow_again", "review"]
    assert diff.added == [] and diff.removed == []


def test_moving_a_shape_in_the_drawing_is_not_a_change_of_the_process():
    new = LOOP.replace('<dc:Bounds x="280" y="130"', '<dc:Bounds x="300" y="150"')
    assert new != LOOP
    diff = diff_sources(LOOP, new, "review_loop.bpmn")
    assert (diff.added, diff.changed, diff.removed) == ([], [], [])


def test_added_and_removed_elements_are_named():
    new = LOOP
    for old_text, new_text in [
            ('<bpmn:endEvent id="done" name="Fin">', '<bpmn:endEvent id="finished" name="Terminé">'),
            ('targetRef="done"', 'targetRef="finished"'),
            ('bpmnElement="done"', 'bpmnElement="finished"'),
            (">done</bpmn:flowNodeRef>", ">finished</bpmn:flowNodeRef>")]:
        new = new.replace(old_text, new_text)
    diff = diff_sources(LOOP, new, "review_loop.bpmn")
    assert diff.added == ["finished"] and diff.removed == [("done", "Fin")]
    assert "flow_done" in diff.changed  # its target changed
