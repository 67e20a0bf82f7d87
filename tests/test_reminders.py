"""Reminder digests sent to a real SMTP server on loopback (aiosmtpd): recipients, content, once a day, failures."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from assessment import access, clock, mail, reminders, users
from assessment.cli import main
from assessment.errors import PermissionDenied, SettingsError
from assessment.model import Actor
from assessment.settings import Settings
from assessment.settings import load as load_settings
from assessment.storage.db import frame, open_database
from tests.conftest import ADMIN, add_org

TODAY = date(2026, 6, 20)  # the org fixture's cycle C1 is due on 2026-06-30: 10 days left
BASE = "https://itscm.example.org"
UNIT_U1 = "Pay <script>alert(1)</script> & Co"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message and refuses the recipients in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def smtp():
    """A started SMTP server on 127.0.0.1 and its inbox; `smtp.refuse` can be set before sending."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def settings_for(port: int, **changes) -> Settings:
    return replace(Settings(database_url="unused", data_dir=Path("unused"), base_url=BASE, smtp_host="127.0.0.1",
                            smtp_port=port, smtp_security="none", smtp_sender="ITSCM <itscm@example.org>"), **changes)


@pytest.fixture
def people(org):
    """Heads of U1 (with HTML in their name), of U2+U3, of U3 without an email, and a manager without units."""
    org.transaction(lambda cur: cur.execute("UPDATE business_units SET name = ? WHERE unit_id = 'U1'", [UNIT_U1]))
    users.create(org, ADMIN, "ada", "Ada <b>Lovelace</b>", access.HEAD, None, ["U1"], email="ada@example.org")
    users.create(org, ADMIN, "bob", "Bob Two", access.HEAD, None, ["U2", "U3"], email="bob@example.org")
    users.create(org, ADMIN, "cyd", "Cyd Three", access.HEAD, None, ["U3"])
    users.create(org, ADMIN, "meg", "Meg Manager", access.MANAGER, None, [], email="meg@example.org")
    return org


def parts(msg: EmailMessage) -> tuple[str, str]:
    return (msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content())


def sent_rows(db) -> list[tuple]:
    with db.read() as cur:
        return frame(cur, "SELECT username, sent_on, email, items FROM reminder_digests ORDER BY username").rows()


def audited(db) -> list[tuple]:
    with db.read() as cur:
        return frame(cur, "SELECT object_id, after_json FROM audit_log WHERE action = 'reminder.send' "
                          "ORDER BY seq").rows()


def test_each_person_gets_one_digest_of_their_own_units_in_their_name(people, smtp):
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert report.ok and [d.username for d in report.sent] == ["ada", "bob"]
    assert report.without_email == ("cyd",)  # reported, not fatal
    assert sorted(r for rcpts, _ in smtp.messages for r in rcpts) == ["ada@example.org", "bob@example.org"]

    (ada,) = smtp.to("ada@example.org")
    assert ada["To"].addresses[0].display_name == "Ada <b>Lovelace</b>"
    assert ada["From"] == "ITSCM <itscm@example.org>"
    assert ada["Subject"] == "ITSCM reminders for 2026-06-20: 1 item(s)"
    text, html = parts(ada)
    assert "Dear Ada <b>Lovelace</b>," in text
    assert f"* {UNIT_U1} (U1): Cycle 1: self-assessment (draft)" in text
    assert "due 2026-06-30 (in 10 days)" in text and f"{BASE}/self_assessment" in text
    assert "Unit U2" not in text + html and "Unit U3" not in text + html  # nothing about other units
    # Every piece of user text is escaped in the HTML part: no tag from a name or unit survives.
    assert "Dear Ada &lt;b&gt;Lovelace&lt;/b&gt;," in html
    assert "Pay &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co (U1)" in html
    assert "<script>" not in html and "<b>" not in html
    assert f'<a href="{BASE}/self_assessment">' in html

    (bob,) = smtp.to("bob@example.org")
    text, _ = parts(bob)
    assert text.count("Cycle 1: self-assessment (draft)") == 2 and "Unit U2 (U2)" in text and "Unit U3 (U3)" in text
    assert UNIT_U1 not in text and "U1" not in text
    assert sent_rows(people) == [("ada", TODAY, "ada@example.org", 1), ("bob", TODAY, "bob@example.org", 2)]


def test_a_second_run_the_same_day_sends_nothing_and_every_send_is_audited(people, smtp):
    first = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    again = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert len(first.sent) == 2 and again.sent == () and again.already_sent == ("ada", "bob")
    assert len(smtp.messages) == 2
    entries = audited(people)
    assert [e[0] for e in entries] == ["ada", "bob"]
    ada = json.loads(entries[0][1])
    assert ada["on"] == "2026-06-20" and ada["email"] == "ada@example.org" and ada["items"] == 1
    assert ada["message_id"] == smtp.to("ada@example.org")[0]["Message-ID"]
    # The next day is a new digest.
    tomorrow = reminders.run(people, ADMIN, date(2026, 6, 21), settings=settings_for(smtp.port))
    assert [d.username for d in tomorrow.sent] == ["ada", "bob"] and len(smtp.messages) == 4


def test_a_server_refusing_the_connection_is_a_clear_error_and_the_next_run_retries(people, smtp):
    closed = free_port()  # nothing listens here
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(closed))
    assert not report.ok and report.sent == () and report.not_sent == ("ada", "bob")
    assert report.error.startswith(f"could not connect to the mail server 127.0.0.1:{closed} (none): ")
    assert "refused" in report.error.lower()
    assert sent_rows(people) == [] and audited(people) == []  # nothing marked sent that was not
    retry = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert retry.ok and [d.username for d in retry.sent] == ["ada", "bob"] and len(smtp.messages) == 2


def test_a_refused_recipient_is_reported_the_others_are_sent_and_it_is_retried(people, smtp):
    smtp.refuse = ("ada@example.org",)
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert [d.username for d in report.sent] == ["bob"] and not report.ok
    assert [name for name, _ in report.refused] == ["ada"] and "550" in report.refused[0][1]
    assert [r[0] for r in sent_rows(people)] == ["bob"]
    smtp.refuse = ()
    retry = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert [d.username for d in retry.sent] == ["ada"] and retry.already_sent == ("bob",)


def test_dry_run_sends_and_records_nothing(people, smtp):
    report = reminders.run(people, ADMIN, TODAY, dry_run=True, settings=settings_for(smtp.port))
    assert [d.username for d in report.sent] == ["ada", "bob"] and report.dry_run
    assert smtp.messages == [] and sent_rows(people) == [] and audited(people) == []


def test_sending_needs_a_mail_server_and_a_sender(people):
    with pytest.raises(SettingsError, match="ITSCM_SMTP_HOST is not set") as err:
        reminders.run(people, ADMIN, TODAY, settings=settings_for(25, smtp_host=None, smtp_sender=None))
    assert "ITSCM_SMTP_SENDER is not set" in str(err.value)
    assert sent_rows(people) == []


def test_only_an_administrator_runs_the_reminder_job(people, smtp):
    head = Actor("ada", access.HEAD, frozenset({"U1"}))
    with pytest.raises(PermissionDenied):
        reminders.run(people, head, TODAY, settings=settings_for(smtp.port))
    assert smtp.messages == []


def test_items_are_overdue_or_due_within_30_days(people, smtp):
    # U1's plan review (due 2027-01-01) is 195 days away; move U2's to 2026-07-10 (20 days) and U3's to overdue.
    people.transaction(lambda cur: cur.execute(
        "UPDATE business_units SET plan_last_reviewed = CASE unit_id WHEN 'U2' THEN DATE '2025-07-10' "
        "WHEN 'U3' THEN DATE '2025-06-01' ELSE plan_last_reviewed END"))
    (ada, bob, cyd) = reminders.digests(people, ADMIN, reminders.Request(TODAY), BASE)  # meg has no units
    assert cyd.email is None and [i.unit_id for i in cyd.items] == ["U3", "U3"]
    assert [i.section for i in ada.items] == ["Self-assessments due"]
    assert [(i.section, i.unit_id, i.days_left) for i in bob.items] == [
        ("Continuity plan reviews", "U3", -19), ("Self-assessments due", "U2", 10),
        ("Self-assessments due", "U3", 10), ("Continuity plan reviews", "U2", 20)]
    assert bob.overdue == 1 and bob.items[0].link == f"{BASE}/unit"


def test_the_cli_sends_once_and_reports_a_person_without_email(smtp, tmp_path, monkeypatch, capsys):
    path = tmp_path / "cli.duckdb"
    cli_db = open_database(path)
    try:
        add_org(cli_db, [("U1", "D1", 1)])
        users.create(cli_db, ADMIN, "ada", "Ada", access.HEAD, None, ["U1"], email="ada@example.org")
        users.create(cli_db, ADMIN, "cyd", "Cyd", access.HEAD, None, ["U1"])
        # Plan last reviewed 2026-01-01 every 12 months: due 2027-01-01, so remind as of 2026-12-20.
    finally:
        cli_db.close()
    for name, value in (("ITSCM_SMTP_HOST", "127.0.0.1"), ("ITSCM_SMTP_PORT", str(smtp.port)),
                        ("ITSCM_SMTP_SECURITY", "none"), ("ITSCM_SMTP_SENDER", "itscm@example.org"),
                        ("ITSCM_BASE_URL", BASE + "/")):
        monkeypatch.setenv(name, value)
    assert main(["--db", str(path), "remind", "--today", "2026-12-20"]) == 0
    out = capsys.readouterr().out
    assert "sent: ada <ada@example.org>, 1 item(s)" in out and "no email address, not sent: cyd" in out
    (msg,) = smtp.to("ada@example.org")
    assert f"{BASE}/unit" in parts(msg)[0] and "due 2027-01-01 (in 12 days)" in parts(msg)[0]
    assert main(["--db", str(path), "remind", "--today", "2026-12-20"]) == 0
    assert "already sent on 2026-12-20: ada" in capsys.readouterr().out and len(smtp.messages) == 1
    monkeypatch.setenv("ITSCM_SMTP_PORT", str(free_port()))
    assert main(["--db", str(path), "remind", "--today", "2026-12-21"]) == 1
    err = capsys.readouterr().err
    assert "error: could not connect to the mail server" in err and "the next run retries them" in err


def test_the_mail_server_login_uses_the_configured_user_and_a_wrong_password_is_a_clear_error(people):
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        given = tuple(v.decode() if isinstance(v, bytes) else v for v in (auth_data.login, auth_data.password))
        return AuthResult(success=given == ("itscm", "right secret"), handled=False)

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        wrong = reminders.run(people, ADMIN, TODAY, settings=settings_for(
            controller.port, smtp_user="itscm", smtp_password="wrong"))
        assert wrong.error.startswith(f"could not log in to the mail server 127.0.0.1:{controller.port} (none): 535")
        assert "wrong" not in wrong.error and sent_rows(people) == []
        right = reminders.run(people, ADMIN, TODAY, settings=settings_for(
            controller.port, smtp_user="itscm", smtp_password="right secret"))
        assert right.ok and len(inbox.messages) == 2
    finally:
        controller.stop()


def test_starttls_against_a_server_without_it_is_refused_not_sent_in_the_clear(people, smtp):
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port, smtp_security="starttls"))
    assert report.error == (f"could not start TLS with the mail server 127.0.0.1:{smtp.port} (starttls): "
                            "STARTTLS extension not supported by server.")
    assert smtp.messages == [] and sent_rows(people) == []


def test_bad_mail_settings_are_all_reported_at_once():
    with pytest.raises(SettingsError) as err:
        load_settings({"ITSCM_SMTP_SECURITY": "ssl", "ITSCM_SMTP_PORT": "70000", "ITSCM_BASE_URL": "itscm.example",
                       "ITSCM_SMTP_SENDER": "nobody"})
    text = str(err.value)
    for name in ("ITSCM_SMTP_SECURITY", "ITSCM_SMTP_PORT", "ITSCM_BASE_URL", "ITSCM_SMTP_SENDER"):
        assert f"{name}=" in text
    s = load_settings({"ITSCM_SMTP_SECURITY": "TLS", "ITSCM_BASE_URL": "https://itscm.example.org/",
                       "ITSCM_SMTP_HOST": "smtp.example.org", "ITSCM_SMTP_SENDER": "ITSCM <itscm@example.org>"})
    assert (s.smtp_security, s.base_url) == ("tls", "https://itscm.example.org")
    assert mail.SmtpConfig.from_settings(s).port == 465


def test_another_provider_adds_its_own_section(people, smtp, monkeypatch):
    """The hook the actions section uses: one more provider returning ITEM_SCHEMA rows for everyone."""

    def actions_due(db, req):
        return pl.DataFrame([{"username": "ada", "section": "Actions due", "unit_id": "U1", "unit": UNIT_U1,
                              "item": "A-7: restore test of the ledger", "due_on": date(2026, 6, 18),
                              "days_left": -2, "bucket": "overdue", "page": "unit", "key": "action|A-7"}],
                            schema=reminders.ITEM_SCHEMA)

    monkeypatch.setattr(reminders, "PROVIDERS", [*reminders.PROVIDERS, actions_due])
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert [len(d.items) for d in report.sent] == [2, 2]
    text, _ = parts(smtp.to("ada@example.org")[0])
    assert text.index("Actions due (1)") < text.index("Self-assessments due (1)")  # overdue first
    assert "A-7: restore test of the ledger\r\n  overdue since 2026-06-18 (2 days)" in text
    assert "A-7" not in parts(smtp.to("bob@example.org")[0])[0]


def test_an_owners_improvement_actions_due_are_in_their_digest_and_no_one_elses(people, smtp):
    from assessment import actions

    with clock.frozen(datetime.combine(TODAY, datetime.min.time()) - timedelta(days=30)):
        aid = actions.create(people, ADMIN, actions.NewAction(
            "U1", "Restore test of the <ledger>", "ada", TODAY - timedelta(days=3)), today=TODAY - timedelta(days=30))
    report = reminders.run(people, ADMIN, TODAY, settings=settings_for(smtp.port))
    assert "ada" in {d.username for d in report.sent}
    text, html = parts(smtp.to("ada@example.org")[0])
    assert "Improvement actions due (1)" in text and "Restore test of the <ledger>" in text
    assert "&lt;ledger&gt;" in html and "<ledger>" not in html
    assert aid and "Restore test" not in parts(smtp.to("bob@example.org")[0])[0]
