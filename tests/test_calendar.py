"""Calendar files of a user's deadlines: parsed back with icalendar; UIDs survive changes; CLI and account page."""

from __future__ import annotations

from datetime import date

import pytest
from icalendar import Calendar

from assessment import access, ical, users
from assessment.cli import main
from assessment.errors import NotFound, PermissionDenied
from assessment.model import Actor
from assessment.storage.db import open_database
from tests.conftest import ADMIN, add_org
from tests.helpers.apptest import HEAD_PAY, MANAGER, open_page

TODAY = date(2026, 6, 20)
BASE = "https://itscm.example.org"


@pytest.fixture
def heads(org):
    users.create(org, ADMIN, "ada", "Ada One", access.HEAD, None, ["U1"], email="ada@example.org")
    users.create(org, ADMIN, "bob", "Bob Two", access.HEAD, None, ["U2", "U3"])
    return org


def events(data: bytes) -> dict[str, dict]:
    """UID -> start date, summary, URL of every VEVENT; also checks UIDs are unique in the file."""
    cal = Calendar.from_ical(data)
    evs = list(cal.walk("VEVENT"))
    out = {str(e["UID"]): {"start": e.decoded("DTSTART"), "end": e.decoded("DTEND"), "summary": str(e["SUMMARY"]),
                           "url": str(e["URL"])} for e in evs}
    assert len(out) == len(evs)
    return out


def test_a_users_calendar_holds_the_dated_deadlines_of_their_units_only(heads):
    data = ical.user_calendar(heads, ADMIN, "bob", TODAY, BASE)
    cal = Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0" and str(cal["X-WR-CALNAME"]) == "ITSCM deadlines: Bob Two"
    got = sorted((e["start"], e["end"], e["summary"], e["url"]) for e in events(data).values())
    assert got == [
        (date(2026, 6, 30), date(2026, 7, 1), "Self-assessments due: Unit U2 - Cycle 1: self-assessment (draft)",
         f"{BASE}/self_assessment"),
        (date(2026, 6, 30), date(2026, 7, 1), "Self-assessments due: Unit U3 - Cycle 1: self-assessment (draft)",
         f"{BASE}/self_assessment"),
        (date(2027, 1, 1), date(2027, 1, 2),
         "Continuity plan reviews: Unit U2 - Continuity plan review (every 12 months)", f"{BASE}/unit"),
        (date(2027, 1, 1), date(2027, 1, 2),
         "Continuity plan reviews: Unit U3 - Continuity plan review (every 12 months)", f"{BASE}/unit"),
    ]


def test_uids_stay_when_dates_status_and_interval_change_so_a_reimport_updates(heads):
    before = events(ical.user_calendar(heads, ADMIN, "bob", TODAY, BASE))

    def change(cur):
        cur.execute("UPDATE campaigns SET due_on = DATE '2026-07-10' WHERE campaign_id = 'C1'")
        cur.execute("UPDATE assessments SET status = 'returned' WHERE unit_id = 'U2'")
        cur.execute("UPDATE business_units SET plan_last_reviewed = DATE '2026-03-01', review_interval_months = 6 "
                    "WHERE unit_id = 'U2'")

    heads.transaction(change)
    after = events(ical.user_calendar(heads, ADMIN, "bob", date(2026, 6, 25), BASE))
    assert set(after) == set(before)
    moved = {before[uid]["start"]: after[uid]["start"] for uid in before if before[uid]["start"] != after[uid]["start"]}
    assert sorted(a["start"] for a in after.values()) == [date(2026, 7, 10), date(2026, 7, 10), date(2026, 9, 1),
                                                           date(2027, 1, 1)]
    assert moved == {date(2026, 6, 30): date(2026, 7, 10), date(2027, 1, 1): date(2026, 9, 1)}
    assert any("self-assessment (returned)" in a["summary"] for a in after.values())


def test_a_head_downloads_their_own_calendar_not_anothers(heads):
    ada = Actor("ada", access.HEAD, frozenset({"U1"}))
    mine = events(ical.user_calendar(heads, ada, today=TODAY, base_url=BASE))
    assert [e["summary"] for e in mine.values() if "Self-assessments" in e["summary"]] == [
        "Self-assessments due: Unit U1 - Cycle 1: self-assessment (draft)"]
    with pytest.raises(PermissionDenied):
        ical.user_calendar(heads, ada, "bob", TODAY, BASE)
    with pytest.raises(NotFound, match="no active user 'nobody'"):
        ical.user_calendar(heads, ADMIN, "nobody", TODAY, BASE)


def test_a_user_without_units_gets_an_empty_valid_calendar(heads):
    users.create(heads, ADMIN, "meg", "Meg", access.MANAGER, None, [])
    assert events(ical.user_calendar(heads, ADMIN, "meg", TODAY, BASE)) == {}


def test_the_cli_writes_the_file(tmp_path, capsys):
    path = tmp_path / "cli.duckdb"
    db = open_database(path)
    try:
        add_org(db, [("U1", "D1", 1), ("U2", "D1", 2)])
        users.create(db, ADMIN, "ada", "Ada", access.HEAD, None, ["U1"])
    finally:
        db.close()
    out = tmp_path / "ada.ics"
    assert main(["--db", str(path), "calendar", "--user", "ada", "-o", str(out), "--today", "2026-06-20"]) == 0
    assert f"wrote {out}: 1 deadline(s) of ada" in capsys.readouterr().out
    (ev,) = events(out.read_bytes()).values()
    assert ev["start"] == date(2027, 1, 1) and "Unit U1" in ev["summary"]
    assert main(["--db", str(path), "calendar", "--user", "zed", "-o", str(tmp_path / "z.ics")]) == 1
    assert "no active user 'zed'" in capsys.readouterr().err


def test_the_account_page_offers_the_calendar_to_a_head(app_env):
    at = open_page(HEAD_PAY, "account.py")
    (button,) = [b for b in at.get("download_button") if b.label == "Download calendar (.ics)"]
    caption = next(c.value for c in at.caption if "dated deadline(s) of your business units" in c.value)
    assert int(caption.split()[0]) > 0


def test_the_account_page_says_a_manager_has_no_deadlines_of_their_own(app_env):
    at = open_page(MANAGER, "account.py")
    assert not [b for b in at.get("download_button")]
    assert any("No business units are assigned to you" in c.value for c in at.caption)
