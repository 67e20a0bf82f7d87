"""No page ever shows a traceback (issue 13 item 7): an error ends the page with a reference that is in the
log, and no exception text, type or server path reaches the browser."""

from __future__ import annotations

import logging
import re

import pytest

from assessment import reports, workflow
from assessment.errors import DatabaseError

from .helpers.apptest import LEADERSHIP, MANAGER, by_key, open_page, sign_in, start

SECRET = "/srv/itscm/secret/path.py"
REFERENCE = re.compile(r"Something went wrong \(reference ([0-9A-F]{8})\)")


def _all_text(at) -> str:
    """Every string the page sent to the browser (bodies, labels, values) in one blob."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def _reference(at) -> str:
    found = [m.group(1) for e in at.error if (m := REFERENCE.search(e.value))]
    assert found, [e.value for e in at.error]
    return found[0]


def _boom(*args, **kwargs):
    raise RuntimeError(f"boom in {SECRET}")


@pytest.mark.usefixtures("app_env")
def test_a_page_that_raises_shows_a_reference_that_is_in_the_log(monkeypatch, caplog):
    monkeypatch.setattr(reports, "summary", _boom)
    caplog.set_level(logging.ERROR, logger="itscm.pages")
    at = sign_in(start(), LEADERSHIP)                 # the dashboard is the default page
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Leadership dashboard"  # the page got as far as it could
    ref = _reference(at)
    text = _all_text(at)
    assert SECRET not in text and "Traceback" not in text and "RuntimeError" not in text
    record = next(r for r in caplog.records if ref in r.getMessage())
    assert record.exc_info and SECRET in str(record.exc_info[1])   # the details are in the log only


@pytest.mark.usefixtures("app_env")
def test_a_callback_that_raises_shows_a_reference(monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="itscm.pages")
    at = open_page(MANAGER, "campaigns.py")
    monkeypatch.setattr(workflow, "approve", _boom)
    by_key(at.button, "cp_approve").click().run()
    assert not at.exception, [e.value for e in at.exception]
    ref = _reference(at)
    assert SECRET not in _all_text(at)
    assert any(ref in r.getMessage() for r in caplog.records)
    assert at.title[0].value == "Campaigns"             # the page itself still works


@pytest.mark.usefixtures("app_env")
def test_an_error_for_people_keeps_its_message(monkeypatch):
    def locked(*args, **kwargs):
        raise DatabaseError("the database is busy: try again in a minute")

    monkeypatch.setattr(reports, "deadlines", locked)
    at = open_page(LEADERSHIP, "dashboard.py")
    at.switch_page("views/deadlines.py").run()
    assert not at.exception
    assert any("the database is busy: try again in a minute (reference " in e.value for e in at.error)
