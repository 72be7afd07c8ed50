"""The real mailer (`SmtpMailer`) against a real SMTP server started on loopback (aiosmtpd):
a notification is delivered as a plain-text mail; with STARTTLS required, a server that does
not offer it gets neither the message nor the password; a server that refuses is retried
with backoff, each attempt recorded on the notification row, until it accepts or the last
attempt is spent."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from partnerflow.engine.config import as_utc
from partnerflow.engine.runtime import notifications
from partnerflow.engine.store.models import Notification, User
from tests.conftest import make_user


class Inbox:
    """An aiosmtpd handler that keeps what it receives; refuses the first `refusals`
    messages with a temporary error, as a server under load does."""

    def __init__(self, refusals: int = 0):
        self.refusals = refusals
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        if self.refusals > 0:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """Start an SMTP server on loopback; yields (inbox, port), stops it afterwards."""
    started = []

    def start(inbox: Inbox, **options):
        def authenticator(server, session, envelope, mechanism, auth_data):
            inbox.logins.append(auth_data.login)
            return AuthResult(success=True)

        controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                                authenticator=authenticator, auth_require_tls=False, **options)
        controller.start()
        started.append(controller)
        return controller.port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def people(pf):
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "claire")).email = \
            "claire.martin@ehpad.example"
        uow.commit()
    return pf


def _queue(pf, clock, subject="Nouvelle tâche : Valider l'idée") -> int:
    with pf.uow() as uow:
        row = Notification(username="claire", kind="task_assigned", subject=subject,
                           body="Bonjour Claire,\n\nUne tâche vous attend.\n",
                           created_at=clock(), email_status="pending", attempts=0,
                           next_attempt_at=clock())
        uow.session.add(row)
        uow.commit()
        return row.id


def _mailer(pf, port: int, **settings) -> notifications.SmtpMailer:
    options = dict(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                   mail_from="partnerflow@ehpad.example")
    options.update(settings)
    return notifications.SmtpMailer(pf.settings.with_(**options), timeout_s=5)


def _row(pf, row_id: int) -> Notification:
    with pf.read() as session:
        return session.get(Notification, row_id)


def test_a_notification_is_delivered_as_plain_text_mail(people, clock, smtp_server):
    pf = people
    inbox = Inbox()
    port = smtp_server(inbox)
    row_id = _queue(pf, clock)
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, _mailer(pf, port)) is True
    [(sender, recipients, content)] = inbox.received
    assert (sender, recipients) == ("partnerflow@ehpad.example", ["claire.martin@ehpad.example"])
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "Nouvelle tâche : Valider l'idée"
    assert mail.get_content_type() == "text/plain"
    assert "Une tâche vous attend." in mail.get_content()
    row = _row(pf, row_id)
    assert (row.email_status, row.attempts, row.last_error, row.next_attempt_at) == \
        ("sent", 1, None, None)
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, _mailer(pf, port)) is False  # nothing due
    assert len(inbox.received) == 1


def test_starttls_required_and_not_offered_sends_nothing_in_clear(people, clock, smtp_server):
    pf = people
    inbox = Inbox()
    port = smtp_server(inbox)  # no TLS context: the server does not offer STARTTLS
    row_id = _queue(pf, clock)
    mailer = _mailer(pf, port, smtp_starttls=True, smtp_user="partnerflow",
                     smtp_password="secret-password")
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer) is True
    assert inbox.received == [] and inbox.logins == []  # neither the message nor the password
    row = _row(pf, row_id)
    assert row.email_status == "pending" and row.attempts == 1
    assert "STARTTLS" in row.last_error
    # without STARTTLS required the same server gets the message (and the login)
    with pf.uow() as uow:
        uow.session.get(Notification, row_id).next_attempt_at = clock()
        uow.commit()
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, _mailer(pf, port, smtp_user="partnerflow",
                                                       smtp_password="secret-password"))
    assert len(inbox.received) == 1 and inbox.logins == [b"partnerflow"]


def test_a_refusing_server_is_retried_with_backoff_until_it_accepts(people, clock, smtp_server):
    pf = people
    inbox = Inbox(refusals=2)
    port = smtp_server(inbox)
    row_id = _queue(pf, clock)
    mailer = _mailer(pf, port)
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer)
    row = _row(pf, row_id)
    assert (row.email_status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error and "Try again later" in row.last_error
    assert as_utc(row.next_attempt_at) == as_utc(clock()) + notifications.BACKOFF[0]
    with pf.uow() as uow:  # not yet due: nothing is sent
        assert notifications.deliver_next(uow, mailer) is False
    clock.advance(minutes=1)
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer)
    row = _row(pf, row_id)
    assert (row.email_status, row.attempts) == ("pending", 2)
    assert as_utc(row.next_attempt_at) == as_utc(clock()) + notifications.BACKOFF[1]
    clock.advance(seconds=notifications.BACKOFF[1].total_seconds())
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer)
    row = _row(pf, row_id)
    assert (row.email_status, row.attempts, row.last_error) == ("sent", 3, None)
    assert len(inbox.received) == 1


def test_the_last_attempt_spent_marks_the_mail_failed(people, clock, smtp_server):
    pf = people
    inbox = Inbox(refusals=notifications.MAX_ATTEMPTS + 1)
    port = smtp_server(inbox)
    row_id = _queue(pf, clock)
    mailer = _mailer(pf, port)
    for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
        with pf.uow() as uow:
            assert notifications.deliver_next(uow, mailer)
        row = _row(pf, row_id)
        assert row.attempts == attempt
        if attempt < notifications.MAX_ATTEMPTS:
            assert row.email_status == "pending"
            clock.advance(seconds=notifications.BACKOFF[attempt - 1].total_seconds() + 1)
    assert (row.email_status, row.next_attempt_at) == ("failed", None)
    assert "451" in row.last_error
    clock.advance(days=1)
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer) is False
    assert inbox.received == []
