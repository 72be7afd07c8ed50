"""The real mailer (`SmtpMailer`) against a real SMTP server started on loopback (aiosmtpd):
a notification is delivered as a plain-text mail; with STARTTLS required, a server that does
not offer it gets neither the message nor the password; over STARTTLS the message and the
login go through the encrypted channel to a server whose certificate the CA of
PARTNERFLOW_SMTP_CA_FILE signed, and nothing goes to one whose certificate it did not sign;
a server that refuses is retried with backoff, each attempt recorded on the notification
row, until it accepts or the last attempt is spent."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta
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
        self.over_tls: list[bool] = []  # for each message received, whether TLS carried it

    async def handle_DATA(self, server, session, envelope):
        if self.refusals > 0:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.over_tls.append(session.ssl is not None)
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

        options.setdefault("auth_require_tls", False)
        controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                                authenticator=authenticator, **options)
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


# ---------------------------------------------------------------- STARTTLS with a private CA


def _certificate_authority(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    return key, certificate


def _server_certificate(ca_key, ca_certificate, tmp_path, stem: str):
    """A key and a certificate for 127.0.0.1 signed by the CA, written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{stem}.pem", tmp_path / f"{stem}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def private_ca(tmp_path):
    """The CA file the mailer is given, and the TLS context of a server it signed for 127.0.0.1."""
    from cryptography.hazmat.primitives import serialization

    ca_key, ca_certificate = _certificate_authority("Autorité de l'EHPAD (essai)")
    ca_file = tmp_path / "smtp-ca.pem"
    ca_file.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))

    def server_context(signed_by_the_ca: bool = True) -> ssl.SSLContext:
        key, certificate = (ca_key, ca_certificate) if signed_by_the_ca else \
            _certificate_authority("Une autre autorité")
        cert_file, key_file = _server_certificate(key, certificate, tmp_path,
                                                  "smtp" if signed_by_the_ca else "other")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context

    return ca_file, server_context


def test_over_starttls_the_mail_and_the_login_go_encrypted_to_the_server_the_ca_signed(
        people, clock, smtp_server, private_ca):
    pf = people
    ca_file, server_context = private_ca
    inbox = Inbox()
    # the server accepts neither a login nor a message before STARTTLS
    port = smtp_server(inbox, tls_context=server_context(), require_starttls=True,
                       auth_require_tls=True)
    row_id = _queue(pf, clock)
    mailer = _mailer(pf, port, smtp_starttls=True, smtp_ca_file=ca_file,
                     smtp_user="partnerflow", smtp_password="secret-password")
    with pf.uow() as uow:
        assert notifications.deliver_next(uow, mailer) is True
    row = _row(pf, row_id)
    assert (row.email_status, row.attempts, row.last_error) == ("sent", 1, None)
    [(sender, recipients, content)] = inbox.received
    assert (sender, recipients) == ("partnerflow@ehpad.example", ["claire.martin@ehpad.example"])
    assert inbox.over_tls == [True] and inbox.logins == [b"partnerflow"]
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "Nouvelle tâche : Valider l'idée"
    assert "Une tâche vous attend." in mail.get_content()


def test_a_server_certificate_the_ca_did_not_sign_gets_neither_the_mail_nor_the_password(
        people, clock, smtp_server, private_ca):
    pf = people
    ca_file, server_context = private_ca
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=server_context(signed_by_the_ca=False),
                       require_starttls=True, auth_require_tls=True)
    row_id = _queue(pf, clock)
    for settings in ({"smtp_ca_file": ca_file}, {}):  # the given CA, then the system's CAs
        with pf.uow() as uow:
            uow.session.get(Notification, row_id).next_attempt_at = clock()
            uow.commit()
        mailer = _mailer(pf, port, smtp_starttls=True, smtp_user="partnerflow",
                         smtp_password="secret-password", **settings)
        with pf.uow() as uow:
            assert notifications.deliver_next(uow, mailer) is True
        row = _row(pf, row_id)
        assert row.email_status == "pending" and "certificate verify failed" in row.last_error
    assert row.attempts == 2
    assert inbox.received == [] and inbox.logins == []


def test_the_ca_file_is_read_from_the_environment(tmp_path):
    from partnerflow.engine.config import Settings

    ca_file = tmp_path / "smtp-ca.pem"
    assert Settings.from_env({"PARTNERFLOW_SMTP_CA_FILE": str(ca_file)}).smtp_ca_file == ca_file
    assert Settings.from_env({}).smtp_ca_file is None
