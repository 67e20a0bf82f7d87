"""A person's deadlines as an iCalendar file (RFC 5545): all-day events whose UIDs survive date changes."""

from __future__ import annotations

from datetime import date, timedelta, timezone

from icalendar import Calendar, Event

from . import __version__, clock, reminders
from .digests import Digest
from .model import Actor
from .settings import load as load_settings
from .storage import Database

PRODID = f"-//ITSCM maturity assessment//itscm {__version__}//EN"


def user_calendar(db: Database, actor: Actor, username: str | None = None, today: date | None = None,
                  base_url: str | None = None) -> bytes:
    """The .ics of every dated deadline of the user's own units (the signed-in user when `username` is None).

    A UID names the thing a deadline is about (kind, unit, campaign/question/service), never its date, so
    importing a newer file moves the event instead of adding a second one."""
    name = username or actor.username
    day = today or clock.today()
    url = base_url or load_settings().base_url
    found = reminders.digests(db, actor, reminders.Request(day, within_days=None, username=name), url)
    return render(found[0] if found else None, name, url)


def render(digest: Digest | None, username: str, base_url: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    who = digest.display_name if digest else username
    cal.add("x-wr-calname", f"ITSCM deadlines: {who}")
    stamp = clock.now().replace(tzinfo=timezone.utc)
    for item in digest.items if digest else ():
        if item.due_on is None:  # never done: no date to put it on (the digest and the deadline page list it)
            continue
        ev = Event()
        ev.add("uid", reminders.uid(item.key))
        ev.add("dtstamp", stamp)
        ev.add("dtstart", item.due_on)
        ev.add("dtend", item.due_on + timedelta(days=1))
        ev.add("summary", f"{item.section}: {item.unit} - {item.text}")
        ev.add("description", f"{item.unit} ({item.unit_id}): {item.text}\nDue on {item.due_on.isoformat()}\n"
                               f"{item.link}")
        ev.add("url", item.link)
        ev.add("categories", [item.section])
        ev.add("transp", "TRANSPARENT")  # a deadline, not a meeting: it does not block time
        cal.add_component(ev)
    return cal.to_ical()
