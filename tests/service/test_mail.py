"""The mailer against a real SMTP server (aiosmtpd on a loopback port): what it sends, over STARTTLS, implicit TLS
and with a login; when (never before the operation it announces is done); and what it does when the server
refuses, for now or for good, or is not there, or when no server is configured. The password stays out of every
record and log."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from kudos_service.claims.links import new_claim_token
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.mail import LEASE, MAX_ATTEMPTS, Mailer, SmtpConfig, queue_mail, retry_delay
from kudos_service.models import Mail, MailStatus, Operation, OpKind, OpStatus, utcnow
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from tests.service.conftest import CONFIRM_TIMEOUT, award_body, start_service

PASSWORD = "s3cret-smtp-password"


@dataclass
class Inbox:
    """What the server received, and how it answers the next recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    rcpt_answer: str = "250 OK"
    data_answer: str = "250 Message accepted"
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        if not self.data_answer.startswith("250"):
            return self.data_answer
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return self.data_answer

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def starttls_server(inbox: Inbox, ca: trustme.CA) -> Iterator[int]:
    """A server that requires STARTTLS and a login before it takes mail."""
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(ca),
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
    )
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


class Clock:
    """The real time, moved forward by :meth:`advance` (the waits between attempts are minutes to hours)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


def queue(db: Database, to: str = "ada@example.com", **kwargs: Any) -> int:
    with db.session() as session:
        mail = queue_mail(
            session,
            purpose="claim",
            to=to,
            subject=kwargs.pop("subject", "Kudos for you"),
            text=kwargs.pop("text", "Thank you, Ada!\nhttps://kudos.example/claim/abc"),
            html=kwargs.pop("html", "<p>Thank you, <b>Ada</b>!</p>"),
            domain="kudos.example",
            **kwargs,
        )
        return mail.id


def stored(db: Database, mail_id: int) -> Mail:
    with db.session() as session:
        mail = session.get(Mail, mail_id)
        assert mail is not None
        return mail


def plain(port: int) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, security="none", sender="Kudos <kudos@example.com>")


def test_a_message_goes_over_starttls_with_a_login_as_text_and_html(
    db: Database, inbox: Inbox, starttls_server: int, client_context: ssl.SSLContext, clock: Clock
):
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=starttls_server,
        security="starttls",
        username="kudos",
        password=SecretStr(PASSWORD),
        sender="Kudos <kudos@example.com>",
        ssl_context=client_context,
    )
    mail_id = queue(db)
    assert Mailer(db, smtp, clock=clock).send_due() == 1
    assert inbox.logins == ["kudos"]
    (message,) = inbox.messages
    assert inbox.envelopes == [("kudos@example.com", ["ada@example.com"])]
    assert message["Subject"] == "Kudos for you"
    assert message["Auto-Submitted"] == "auto-generated"
    record = stored(db, mail_id)
    assert message["Message-ID"] == record.message_id
    assert record.message_id.endswith("@kudos.example>")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "https://kudos.example/claim/abc" in text.get_content()
    assert "<b>Ada</b>" in html.get_content()
    assert (record.status, record.attempts, record.last_error) == (MailStatus.SENT, 1, None)
    assert record.sent_at is not None
    assert Mailer(db, smtp, clock=clock).send_due() == 0  # sent once


def test_implicit_tls_works_and_an_untrusted_certificate_is_refused(
    db: Database, inbox: Inbox, ca: trustme.CA, client_context: ssl.SSLContext, clock: Clock
):
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_context(ca))
    controller.start()
    try:
        untrusted = SmtpConfig(host="127.0.0.1", port=port, security="tls", sender="kudos@example.com")
        mail_id = queue(db)
        assert Mailer(db, untrusted, clock=clock).send_due() == 0  # the system's trust store does not know the CA
        record = stored(db, mail_id)
        assert record.status == MailStatus.QUEUED
        assert "CERTIFICATE_VERIFY_FAILED" in (record.last_error or "")
        clock.advance(retry_delay(1))
        trusted = SmtpConfig(
            host="127.0.0.1", port=port, security="tls", sender="kudos@example.com", ssl_context=client_context
        )
        assert Mailer(db, trusted, clock=clock).send_due() == 1
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_a_wrong_password_keeps_the_message_queued_and_the_password_out_of_records_and_logs(
    db: Database,
    inbox: Inbox,
    starttls_server: int,
    client_context: ssl.SSLContext,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
):
    wrong = "wrong-" + PASSWORD
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=starttls_server,
        username="kudos",
        password=SecretStr(wrong),
        sender="kudos@example.com",
        ssl_context=client_context,
        timeout_s=5,
    )
    mail_id = queue(db)
    with caplog.at_level(logging.DEBUG):
        assert Mailer(db, smtp, clock=clock).send_due() == 0
    record = stored(db, mail_id)
    assert record.status == MailStatus.QUEUED  # the settings are wrong, not the message: it waits for them
    assert "535" in (record.last_error or "")
    assert wrong not in (record.last_error or "")
    assert wrong not in caplog.text
    assert wrong not in repr(smtp)
    wait = record.next_attempt_at.replace(tzinfo=None) - clock.now.replace(tzinfo=None)
    assert retry_delay(1) - timedelta(seconds=10) < wait <= retry_delay(1)


def test_a_temporary_refusal_is_tried_again_later_and_then_sent(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    inbox.rcpt_answer = "451 4.3.0 Try again later"
    mail_id = queue(db)
    mailer = Mailer(db, plain(plain_server), clock=clock)
    assert mailer.send_due() == 0
    assert stored(db, mail_id).status == MailStatus.QUEUED
    assert "451" in (stored(db, mail_id).last_error or "")
    inbox.rcpt_answer = "250 OK"
    assert mailer.send_due() == 0  # not due yet: the retry waits
    clock.advance(retry_delay(1))
    assert mailer.send_due() == 1
    assert stored(db, mail_id).status == MailStatus.SENT
    assert stored(db, mail_id).attempts == 2


def test_a_permanent_refusal_fails_the_message_at_once_and_the_pass_goes_on(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    inbox.rcpt_answer = "550 5.1.1 No such user"
    refused = queue(db, to="nobody@example.com")
    assert Mailer(db, plain(plain_server), clock=clock).send_due() == 0
    record = stored(db, refused)
    assert record.status == MailStatus.FAILED
    assert "550" in (record.last_error or "")
    inbox.rcpt_answer = "250 OK"
    fine = queue(db)
    assert Mailer(db, plain(plain_server), clock=clock).send_due() == 1
    assert stored(db, fine).status == MailStatus.SENT
    assert stored(db, refused).status == MailStatus.FAILED


@pytest.mark.parametrize(
    ("answer", "status"), [("554 5.6.0 Message refused", MailStatus.FAILED), ("452 4.3.1 Full", MailStatus.QUEUED)]
)
def test_the_message_refused_after_its_data_fails_for_good_on_5xx_and_waits_on_4xx(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock, answer: str, status: MailStatus
):
    inbox.data_answer = answer
    mail_id = queue(db)
    assert Mailer(db, plain(plain_server), clock=clock).send_due() == 0
    record = stored(db, mail_id)
    assert record.status == status
    assert answer.split(maxsplit=1)[0] in (record.last_error or "")


def test_a_server_that_is_not_there_delays_with_a_growing_wait_then_fails_the_message(db: Database, clock: Clock):
    mail_id = queue(db)
    mailer = Mailer(db, plain(free_port()), clock=clock)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert mailer.send_due() == 0
        record = stored(db, mail_id)
        assert record.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert record.status == MailStatus.QUEUED
            assert "ConnectionRefusedError" in (record.last_error or "")
            waits.append(retry_delay(attempt))
            clock.advance(retry_delay(attempt))
    assert stored(db, mail_id).status == MailStatus.FAILED
    assert waits[:3] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert sum(waits, timedelta()) > timedelta(days=2)


def test_a_message_waits_until_the_operation_it_announces_is_done(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    with db.session() as session:
        operation = Operation(
            kind=OpKind.AWARD_BATCH,
            status=OpStatus.IN_FLIGHT,
            signer="0x" + "11" * 20,
            to_address="0x" + "22" * 20,
            data=b"",
        )
        session.add(operation)
        session.flush()
        operation_id = operation.id
    mail_id = queue(db, after_operation_id=operation_id)
    mailer = Mailer(db, plain(plain_server), clock=clock)
    for status in (OpStatus.IN_FLIGHT, OpStatus.MINED):
        with db.session() as session:
            session.get_one(Operation, operation_id).status = status
        assert mailer.send_due() == 0, status
        assert stored(db, mail_id).attempts == 0
    with db.session() as session:
        session.get_one(Operation, operation_id).status = OpStatus.DONE
    assert mailer.send_due() == 1
    assert len(inbox.messages) == 1


def test_without_a_mail_server_messages_are_kept_then_sent_once_one_is_configured(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    mail_id = queue(db)
    assert Mailer(db, None, clock=clock).send_due() == 0
    record = stored(db, mail_id)
    assert record.status == MailStatus.KEPT
    assert "KUDOS_SMTP_HOST" in (record.last_error or "")
    assert inbox.messages == []
    mailer = Mailer(db, plain(plain_server), clock=clock)
    assert mailer.send_due() == 0  # kept messages are not sent by themselves
    assert mailer.requeue_kept() == 1
    assert mailer.send_due() == 1
    assert stored(db, mail_id).status == MailStatus.SENT


def test_a_leased_message_is_not_sent_by_another_pass_until_its_lease_ends(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    """Two mailers (two processes) read the same due message: the conditional update lets one take it; the other
    leaves it. A mailer that stopped after taking it (a crash) leaves it for another once the lease ends."""
    mail_id = queue(db)
    first, second = Mailer(db, plain(plain_server), clock=clock), Mailer(db, plain(plain_server), clock=clock)
    now = clock.now
    (due,) = first._due(now)
    assert first._lease(due, now)
    assert not second._lease(due, now)  # read before the first took it: its update finds nothing
    assert second.send_due() == 0  # not due while leased
    clock.advance(LEASE)
    assert second.send_due() == 1  # the first never recorded a result: sent after the lease
    assert len(inbox.messages) == 1
    with db.session() as session:
        assert session.scalars(select(Mail.attempts).where(Mail.id == mail_id)).one() == 2


def test_a_stopped_mailer_thread_ends_and_a_woken_one_sends_at_once(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    mailer = Mailer(db, plain(plain_server), poll_s=60, clock=clock)
    mailer.start()
    try:
        queue(db)
        mailer.wake()
        deadline = datetime.now().timestamp() + 10
        while not inbox.messages and datetime.now().timestamp() < deadline:
            mailer._stop.wait(0.05)
        assert len(inbox.messages) == 1
    finally:
        mailer.stop()
    assert mailer._thread is not None
    assert not mailer._thread.is_alive()


def test_the_settings_name_what_is_missing_and_pick_the_port_by_security():
    assert Settings().smtp() is None
    with pytest.raises(ValidationError, match="KUDOS_MAIL_FROM"):
        Settings(smtp_host="mail.example.com")
    with pytest.raises(ValidationError, match="KUDOS_SMTP_PASSWORD"):
        Settings(smtp_host="mail.example.com", mail_from="k@example.com", smtp_user="kudos")
    ports = {
        security: Settings(smtp_host="mail.example.com", mail_from="k@example.com", smtp_security=security).smtp()
        for security in ("starttls", "tls", "none")
    }
    assert {security: config.port for security, config in ports.items() if config} == {
        "starttls": 587,
        "tls": 465,
        "none": 25,
    }
    configured = Settings(
        smtp_host="mail.example.com",
        smtp_port=2525,
        mail_from="k@example.com",
        smtp_user="u",
        smtp_password=SecretStr(PASSWORD),
    )
    smtp = configured.smtp()
    assert smtp is not None
    assert (smtp.port, smtp.username, smtp.sender) == (2525, "u", "k@example.com")
    assert PASSWORD not in repr(smtp)
    assert PASSWORD not in repr(configured)


def test_once_sent_a_claim_link_is_cut_out_of_the_copy_kept(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    token = new_claim_token()[0]
    link = f"https://kudos.example/claim/{token}"
    mail_id = queue(db, text=f"Claim it:\n{link}\n", html=f'<a href="{link}">Claim it</a>')
    assert Mailer(db, plain(plain_server), clock=clock).send_due() == 1
    (message,) = inbox.messages
    for part in ("plain", "html"):
        body = message.get_body((part,))
        assert body is not None
        assert link in body.get_content()  # the person receives the whole link
    record = stored(db, mail_id)
    assert token not in record.text_body
    assert record.html_body is not None
    assert token not in record.html_body
    assert "https://kudos.example/claim/…" in record.text_body


def test_a_claim_link_that_can_never_be_sent_is_not_kept_either(
    db: Database, inbox: Inbox, plain_server: int, clock: Clock
):
    inbox.rcpt_answer = "550 5.1.1 No such user"
    token = new_claim_token()[0]
    link = f"https://kudos.example/claim/{token}"
    refused = queue(db, to="nobody@example.com", text=f"Claim it: {link}\n", html=f'<a href="{link}">Claim</a>')
    assert Mailer(db, plain(plain_server), clock=clock).send_due() == 0
    record = stored(db, refused)
    assert record.status == MailStatus.FAILED
    assert token not in record.text_body
    assert token not in (record.html_body or "")


# ----------------------------------------------------------------------------------------------------------------
# The service's own mailer, end to end


def test_the_service_mails_the_claim_link_of_a_kudos_held_for_an_email_address(
    plain_server: int, inbox: Inbox, tmp_path: Path
):
    """The app's mailer is the configured SMTP server's: a kudos to an email address is confirmed, announced, and
    its claim link mailed there (the browser test follows the link; this one needs no browser)."""
    settings = {"smtp_host": "127.0.0.1", "smtp_port": plain_server, "smtp_security": "none"}
    with start_service(tmp_path, mail_from="Kudos <kudos@example.com>", **settings) as service:
        body = award_body(recipient={"email": "lin@example.com", "name": "Lin"})
        accepted = service.client.post(
            "/v1/awards", json=body, headers=service.auth("award", **{"Idempotency-Key": "mail-1"})
        )
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not inbox.envelopes and time.monotonic() < deadline:
            time.sleep(0.1)
    assert inbox.envelopes == [("kudos@example.com", ["lin@example.com"])]
    (message,) = inbox.messages
    assert message["To"] == "lin@example.com"
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert "/claim/" in plain.get_content()
