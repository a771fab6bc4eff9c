"""The mailer: sends the mail outbox (:class:`~kudos_service.models.Mail`) over SMTP, with retries, in a thread.

An email is written to the ``mails`` table in the same transaction as what it announces (:func:`queue_mail`), and
never sent from a request: a mail server that is slow or down delays mail, never an award. The mailer's loop
takes what is due, a message at a time:

1. it **leases** the message with one conditional ``UPDATE`` (``attempts + 1``, next attempt after :data:`LEASE`,
   only if nobody changed it since it was read), so two processes never send one message at the same time;
2. sends it over one SMTP connection per pass (STARTTLS, implicit TLS, or plain on a trusted network), logging in
   when a user is set;
3. records ``sent``; or, on a temporary failure (the server unreachable, a 4xx answer, a failed login), the next
   attempt after a growing delay (:func:`retry_delay`); on a permanent one (a 5xx answer to the sender, the
   recipient or the data) or after :data:`MAX_ATTEMPTS`, ``failed`` with the server's answer.

A message that waits for an operation of the chain outbox (``after_operation_id``) is due only once that
operation is ``done``: the email never announces a kudos before the chain has it. Without a mail server
(:class:`SmtpConfig` is None) due messages are marked ``kept`` for an admin to read; they are queued again when a
server is configured (:meth:`Mailer.requeue_kept`).

Sending is at least once: a process that stops after the server took a message and before recording it sends the
message again once its lease ends. Its ``Message-ID`` stays the same, so mail clients can tell the copy.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from kudos_service.claims.links import redact_links
from kudos_service.core.db import Database
from kudos_service.models import Mail, MailStatus, Operation, OpStatus, as_utc, utcnow

__all__ = ["LEASE", "MAX_ATTEMPTS", "Mailer", "SmtpConfig", "queue_mail", "retry_delay"]

logger = logging.getLogger(__name__)

#: How long a message taken for sending is left alone by other passes and processes.
LEASE = timedelta(minutes=5)
#: Attempts before a message that keeps failing for temporary reasons is ``failed``: retries over about 2 days.
MAX_ATTEMPTS = 14
_FIRST_DELAY, _LONGEST_DELAY = timedelta(minutes=1), timedelta(hours=12)
#: Messages a pass takes at most (a pass holds one SMTP connection).
_PASS = 50


def retry_delay(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed attempts: 1 minute, doubling, at most 12 hours.

    >>> [str(retry_delay(n)) for n in (1, 2, 3, 11)]
    ['0:01:00', '0:02:00', '0:04:00', '12:00:00']
    """
    delay: timedelta = _FIRST_DELAY * 2 ** max(attempts - 1, 0)
    return min(delay, _LONGEST_DELAY)


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the mail server. The password is a :class:`~pydantic.SecretStr`: never in a repr or a log."""

    host: str
    sender: str
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    #: Where the server's certificate is checked from: None for the system's trust store.
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def connect(self) -> smtplib.SMTP:
        """An open, secured and logged-in connection."""
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username is not None:
                client.login(self.username, self.password.get_secret_value() if self.password else "")
        except BaseException:
            client.close()
            raise
        return client


def queue_mail(
    session: Session,
    *,
    purpose: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    domain: str,
    recipient_id: int | None = None,
    after_operation_id: int | None = None,
) -> Mail:
    """An email in the outbox, in ``session``'s transaction: sent once that commits (and once the operation
    ``after_operation_id`` is done). ``domain`` names the service in the ``Message-ID``."""
    mail = Mail(
        purpose=purpose,
        recipient_id=recipient_id,
        to_address=to,
        subject=subject,
        text_body=text,
        html_body=html,
        # Not email.utils.make_msgid: it draws from the `random` module, which anything in the process may seed.
        message_id=f"<kudos.{secrets.token_hex(16)}@{domain}>",
        after_operation_id=after_operation_id,
        status=MailStatus.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(mail)
    session.flush()
    return mail


def _permanent(exc: Exception) -> bool:
    """Whether the server refused the message for good (a 5xx answer), rather than for now."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False  # the service's settings, not the message: it waits for them to be fixed
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _describe(exc: Exception) -> str:
    """The failure in one line, for ``last_error``: the server's answer, never the password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = (f"{to}: {code} {reply.decode(errors='replace')}" for to, (code, reply) in exc.recipients.items())
        return f"recipient refused: {'; '.join(answers)}"[:500]
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {reply}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


class Mailer:
    """Sends due messages of the mail outbox; :meth:`start` runs it in a daemon thread."""

    def __init__(
        self,
        db: Database,
        smtp: SmtpConfig | None,
        *,
        poll_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        before_pass: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        #: Called at the start of every pass of the thread: what writes messages from the chain's records (the
        #: claim emails of newly confirmed held kudos) runs there, so they go out in the same pass.
        self.before_pass = before_pass
        self.smtp = smtp
        self.poll_s = poll_s
        self.clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Send in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="kudos-mailer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the message being sent."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look at the outbox now (a message was queued)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.before_pass is not None:
                try:
                    self.before_pass()
                except Exception:  # what writes messages failed; what is queued is still sent
                    logger.exception("unexpected error before the mailer's pass")
            try:
                self.send_due()
            except Exception:  # the database away: the next pass tries again
                logger.exception("unexpected error in the mailer")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _due(self, now: datetime) -> list[Mail]:
        with self.db.session() as session:
            announced = select(Operation.id).where(Operation.status == OpStatus.DONE)
            return list(
                session.scalars(
                    select(Mail)
                    .where(
                        Mail.status == MailStatus.QUEUED,
                        Mail.next_attempt_at <= now,
                        or_(Mail.after_operation_id.is_(None), Mail.after_operation_id.in_(announced)),
                    )
                    .order_by(Mail.next_attempt_at, Mail.id)
                    .limit(_PASS)
                )
            )

    def _lease(self, mail: Mail, now: datetime) -> bool:
        """Take ``mail`` for sending: True when no other pass or process changed it since it was read."""
        with self.db.session() as session:
            taken = session.execute(
                update(Mail)
                .where(Mail.id == mail.id, Mail.status == MailStatus.QUEUED, Mail.attempts == mail.attempts)
                .values(attempts=mail.attempts + 1, next_attempt_at=now + LEASE)
            )
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    def _record(self, mail_id: int, **values: object) -> None:
        with self.db.session() as session:
            session.execute(update(Mail).where(Mail.id == mail_id).values(**values))

    def send_due(self) -> int:
        """One pass: send what is due, record each result; the number sent."""
        now = self.clock()
        due = self._due(now)
        if not due:
            return 0
        if self.smtp is None:
            with self.db.session() as session:
                session.execute(
                    update(Mail)
                    .where(Mail.id.in_([m.id for m in due]), Mail.status == MailStatus.QUEUED)
                    .values(status=MailStatus.KEPT, last_error="no mail server is configured (KUDOS_SMTP_HOST)")
                )
            return 0
        sent = 0
        client: smtplib.SMTP | None = None
        try:
            for mail in due:
                if self._stop.is_set() or not self._lease(mail, now):
                    continue
                if client is None:
                    try:
                        client = self.smtp.connect()
                    except Exception as exc:  # the server down or the settings wrong: this pass ends here
                        self._failed(mail, exc, now)
                        break
                try:
                    client.send_message(self._message(mail))
                except Exception as exc:  # every failure is recorded on the message; the pass goes on
                    self._failed(mail, exc, now)
                    if not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                        client.close()
                        client = None  # the connection is gone: the next message opens another
                    continue
                # The link is in the person's mailbox now: the copy kept here no longer opens anything.
                self._record(
                    mail.id,
                    status=MailStatus.SENT,
                    sent_at=self.clock(),
                    last_error=None,
                    text_body=redact_links(mail.text_body),
                    html_body=None if mail.html_body is None else redact_links(mail.html_body),
                )
                sent += 1
        finally:
            if client is not None:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        return sent

    def _failed(self, mail: Mail, exc: Exception, now: datetime) -> None:
        attempts = mail.attempts + 1
        reason = _describe(exc)
        if _permanent(exc) or attempts >= MAX_ATTEMPTS:
            logger.warning("mail %s failed for good after %d attempts: %s", mail.id, attempts, reason)
            self._record(
                mail.id,
                status=MailStatus.FAILED,
                last_error=reason,
                text_body=redact_links(mail.text_body),  # a link never to be sent is not kept either
                html_body=None if mail.html_body is None else redact_links(mail.html_body),
            )
        else:
            logger.info("mail %s not sent (attempt %d), trying again later: %s", mail.id, attempts, reason)
            self._record(mail.id, next_attempt_at=now + retry_delay(attempts), last_error=reason)

    def _message(self, mail: Mail) -> EmailMessage:
        assert self.smtp is not None
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(as_utc(mail.created_at))
        message["Message-ID"] = mail.message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        message.set_content(mail.text_body)
        if mail.html_body is not None:
            message.add_alternative(mail.html_body, subtype="html")
        return message

    def requeue_kept(self) -> int:
        """Queue again the messages kept while no mail server was configured; how many."""
        with self.db.session() as session:
            result = session.execute(
                update(Mail)
                .where(Mail.status == MailStatus.KEPT)
                .values(status=MailStatus.QUEUED, next_attempt_at=self.clock(), last_error=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
