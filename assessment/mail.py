"""Sending mail over SMTP with the standard library: configuration, one connection per run, clear errors."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from .errors import ItscmError, SettingsError
from .settings import SMTP_PORTS, Settings

TIMEOUT_SECONDS = 30.0


class MailError(ItscmError):
    """The mail server could not be reached, refused the login or dropped the connection: nothing more is sent."""


class MessageRefused(MailError):
    """The mail server refused one message (e.g. its recipient); the others can still be sent."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, s: Settings) -> SmtpConfig:
        problems = [f"{name} is not set: it is needed to send reminders (see README, 'Reminders')"
                    for name, value in (("ITSCM_SMTP_HOST", s.smtp_host), ("ITSCM_SMTP_SENDER", s.smtp_sender))
                    if not value]
        if s.smtp_user and not s.smtp_password:
            problems.append("ITSCM_SMTP_USER is set but ITSCM_SMTP_PASSWORD is not")
        if problems:
            raise SettingsError("\n".join(problems))
        return cls(s.smtp_host or "", s.smtp_port or SMTP_PORTS[s.smtp_security], s.smtp_security, s.smtp_sender or "",
                   s.smtp_user, s.smtp_password)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def message(sender: str, to_name: str, to_address: str, subject: str, text: str, html: str) -> EmailMessage:
    """A plain-text message with an HTML alternative, addressed to the person by name."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((to_name, to_address))
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=to_address.rpartition("@")[2] or None)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


class Connection:
    """An open, logged-in SMTP session (see `connect`)."""

    def __init__(self, smtp: smtplib.SMTP, config: SmtpConfig):
        self._smtp, self._config = smtp, config

    def send(self, msg: EmailMessage) -> None:
        """Send one message; MessageRefused when the server refuses it, MailError when the connection fails."""
        try:
            self._smtp.send_message(msg)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise MessageRefused(f"the mail server {self._config.where} refused the message to {msg['To']}: "
                                 f"{_reason(exc)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the connection to the mail server {self._config.where} failed while sending: "
                            f"{_reason(exc)}") from None


@contextmanager
def connect(config: SmtpConfig) -> Iterator[Connection]:
    """Connect, secure and log in as configured; MailError says what failed and where."""
    smtp = _open(config)
    try:
        yield Connection(smtp, config)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _open(config: SmtpConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    step = "connect to"
    try:
        if config.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            if config.security == "starttls":
                step = "start TLS with"
                smtp.starttls(context=context)
            if config.user:
                step = "log in to"
                smtp.login(config.user, config.password or "")
        except BaseException:
            smtp.close()
            raise
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not {step} the mail server {config.where}: {_reason(exc)}") from None
    return smtp


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
