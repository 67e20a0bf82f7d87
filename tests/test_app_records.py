"""The continuity records page, the recovery view on the dashboard and unit page, the records beside the
self-assessment questions and the record deadlines, through AppTest for each role."""

from __future__ import annotations

import pytest

from assessment import access

from .helpers.apptest import ADMIN, HEAD_PAY, LEADERSHIP, MANAGER, open_page

SYSTEM = access.SYSTEM


def keys(at) -> set[str]:
    return {x.key for x in at.button}


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize("user", [MANAGER, HEAD_PAY, LEADERSHIP, ADMIN])
def test_records_page_opens(user):
    at = open_page(user, "records.py")
    assert at.title[0].value == "Continuity records"
