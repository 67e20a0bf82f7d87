"""A person's reminder digest: its items grouped in sections, as plain text and as escaped HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage

from . import mail


@dataclass(frozen=True)
class Item:
    """One deadline in a digest or a calendar: what, for which unit, when, and where in the app."""

    section: str
    unit_id: str
    unit: str
    text: str
    due_on: date | None
    days_left: int | None
    bucket: str
    link: str
    key: str  # identifies the thing the deadline is about (not its date): the calendar event's UID


@dataclass(frozen=True)
class Digest:
    username: str
    display_name: str
    email: str | None
    day: date
    items: tuple[Item, ...]

    def sections(self) -> list[tuple[str, list[Item]]]:
        """The items grouped by section, in the order their sections first appear."""
        out: dict[str, list[Item]] = {}
        for item in self.items:
            out.setdefault(item.section, []).append(item)
        return list(out.items())

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.days_left is None or i.days_left < 0)


def when(item: Item) -> str:
    if item.due_on is None:
        return "no date: never done"
    if item.days_left is not None and item.days_left < 0:
        return f"overdue since {item.due_on.isoformat()} ({-item.days_left} days)"
    if item.days_left == 0:
        return f"due today ({item.due_on.isoformat()})"
    return f"due {item.due_on.isoformat()} (in {item.days_left} days)"


def subject(d: Digest) -> str:
    # No user text in the subject: a unit name must not be able to forge a header-like line.
    overdue = f", {d.overdue} overdue" if d.overdue else ""
    return f"ITSCM reminders for {d.day.isoformat()}: {len(d.items)} item(s){overdue}"


def text(d: Digest, base_url: str) -> str:
    lines = [f"Dear {d.display_name},", "",
             f"these continuity deadlines of your business units need attention ({d.day.isoformat()}):", ""]
    for title, items in d.sections():
        lines += [f"{title} ({len(items)})", "-" * (len(title) + len(str(len(items))) + 3)]
        for i in items:
            lines += [f"* {i.unit} ({i.unit_id}): {i.text}", f"  {when(i)}", f"  {i.link}"]
        lines.append("")
    lines += [f"Open the app: {base_url}/", "",
              "You receive at most one digest a day, only about the business units assigned to you."]
    return "\n".join(lines) + "\n"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_html(d: Digest, base_url: str) -> str:
    parts = ["<!DOCTYPE html><html><body style=\"font-family: sans-serif\">",
             f"<p>Dear {_e(d.display_name)},</p>",
             f"<p>these continuity deadlines of your business units need attention ({_e(d.day.isoformat())}):</p>"]
    for title, items in d.sections():
        parts.append(f"<h3>{_e(title)} ({len(items)})</h3><ul>")
        parts += [f"<li><a href=\"{_e(i.link)}\">{_e(i.unit)} ({_e(i.unit_id)})</a>: {_e(i.text)}<br>"
                  f"<small>{_e(when(i))}</small></li>" for i in items]
        parts.append("</ul>")
    parts += [f"<p><a href=\"{_e(base_url)}/\">Open the app</a></p>",
              "<p><small>You receive at most one digest a day, only about the business units assigned to you."
              "</small></p></body></html>"]
    return "\n".join(parts) + "\n"


def compose(d: Digest, sender: str, base_url: str) -> EmailMessage:
    if not d.email:
        raise ValueError(f"{d.username} has no email address")
    return mail.message(sender, d.display_name, d.email, subject(d), text(d, base_url), render_html(d, base_url))
