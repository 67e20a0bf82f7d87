"""Every role x operation (read/write, own unit/other unit) through the engine: allowed and denied."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from assessment import (
    access,
    audit,
    campaigns,
    catalog,
    clock,
    exercises,
    ical,
    incidents,
    recovery,
    reminders,
    reports,
    services,
    users,
    workflow,
)
from assessment.errors import NotFound, PermissionDenied
from assessment.model import Actor, AffectedService, Answer, Exercise, ExerciseResult, Incident, Service
from assessment.storage import audit as audit_store

from .conftest import ADMIN

OWN, OTHER = "U1", "U3"
TODAY = date(2026, 6, 30)
FULL = [Answer("GOV-01", 2), Answer("GOV-02", 2), Answer("TEST-01", 1), Answer("TEST-02", 1)]

ACTORS = {
    "admin": Actor("adm", access.ADMIN),
    "manager": Actor("mgr", access.MANAGER),
    "head": Actor("head", access.HEAD, frozenset({OWN})),
    "leadership": Actor("lead", access.LEADERSHIP),
    "auditor": Actor("aud", access.AUDITOR),
    "auditor+import": Actor("aud2", access.AUDITOR, can_import=True),
}


def _submitted(db, unit):
    workflow.save_answers(db, ADMIN, "C1", unit, FULL, today=TODAY)
    workflow.submit(db, ADMIN, "C1", unit, today=TODAY)


def op_read_unit(db, actor, unit):
    catalog.unit(db, actor, unit)


def op_read_answers(db, actor, unit):
    workflow.current_answers(db, actor, "C1", unit)


def op_read_history(db, actor, unit):
    workflow.answer_history(db, actor, "C1", unit)


def op_save_answer(db, actor, unit):
    workflow.save_answers(db, actor, "C1", unit, [Answer("GOV-01", 3)], today=TODAY)


def op_submit(db, actor, unit):
    workflow.save_answers(db, ADMIN, "C1", unit, FULL, today=TODAY)
    workflow.submit(db, actor, "C1", unit, today=TODAY)


def op_approve(db, actor, unit):
    _submitted(db, unit)
    workflow.approve(db, actor, "C1", unit)


def op_return(db, actor, unit):
    _submitted(db, unit)
    workflow.return_for_rework(db, actor, "C1", unit, "more evidence")


def op_plan_review(db, actor, unit):
    catalog.record_plan_review(db, actor, unit, date(2026, 6, 1))


def _service(unit, sid=None, **changes) -> Service:
    base = dict(service_id=sid or f"SVC-{unit}", name=f"Service of {unit}", unit_id=unit, owner="owner.one",
                recovery_tier=1, rto_minutes=60, rpo_minutes=15)
    return Service(**{**base, **changes})


def _with_service(db, unit) -> str:
    """The unit's service, registered (once) before the exercises and incidents of TODAY."""
    if services.list_services(db, ADMIN, reports.Filters(unit_ids=(unit,))).height == 0:
        with clock.frozen(datetime(2026, 1, 1)):
            services.create_service(db, ADMIN, _service(unit))
    return f"SVC-{unit}"


def op_create_service(db, actor, unit):
    services.create_service(db, actor, _service(unit, "NEW-1"))


def op_update_service(db, actor, unit):
    _with_service(db, unit)
    services.update_service(db, actor, _service(unit, rto_minutes=30), base_revision=1)


def op_deactivate_service(db, actor, unit):
    sid = _with_service(db, unit)
    services.deactivate_service(db, actor, sid, base_revision=1, reason="retired")


def op_read_service(db, actor, unit):
    services.get_service(db, actor, _with_service(db, unit))


def op_read_exercise(db, actor, unit):
    sid = _with_service(db, unit)
    eid = exercises.record_exercise(db, ADMIN, Exercise(TODAY, "failover", "x", (ExerciseResult(sid, 30),)),
                                    today=TODAY)
    exercises.get_exercise(db, actor, eid)


def op_read_incident(db, actor, unit):
    sid = _with_service(db, unit)
    start = datetime.combine(TODAY, time(8))
    iid = incidents.record_incident(db, ADMIN, Incident("x", "high", start, (AffectedService(sid),)), now=start)
    incidents.get_incident(db, actor, iid)


def op_record_checks(db, actor, unit):
    recovery.record_checks(db, actor, "C1", unit)


# Setup of these operations is done by ADMIN inside the op; a denied actor fails on its own call.
RECORD_SETUP = {"update service", "deactivate service", "read service", "read exercise", "read incident"}

UNIT_OPS = {
    "read unit": op_read_unit,
    "read answers": op_read_answers,
    "read history": op_read_history,
    "save answer": op_save_answer,
    "submit": op_submit,
    "approve": op_approve,
    "return": op_return,
    "record plan review": op_plan_review,
    "create service": op_create_service,
    "update service": op_update_service,
    "deactivate service": op_deactivate_service,
    "read service": op_read_service,
    "read exercise": op_read_exercise,
    "read incident": op_read_incident,
    "record checks": op_record_checks,
}
R, W = "read", "write"
# (operation, own unit) -> roles allowed
UNIT_ALLOWED = {
    "read unit": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "read answers": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "read history": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "save answer": {True: {"admin", "head"}, False: {"admin"}},
    "submit": {True: {"admin", "head"}, False: {"admin"}},
    "approve": {True: {"admin", "manager"}, False: {"admin", "manager"}},
    "return": {True: {"admin", "manager"}, False: {"admin", "manager"}},
    "record plan review": {True: {"admin", "manager"}, False: {"admin", "manager"}},
    # Heads maintain the services of their own units; everyone reads (heads their own units).
    "create service": {True: {"admin", "manager", "head"}, False: {"admin", "manager"}},
    "update service": {True: {"admin", "manager", "head"}, False: {"admin", "manager"}},
    "deactivate service": {True: {"admin", "manager", "head"}, False: {"admin", "manager"}},
    "read service": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "read exercise": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "read incident": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
    "record checks": {True: set(ACTORS), False: set(ACTORS) - {"head"}},
}


def _state(db):
    with db.read() as cur:
        return audit_store.head(cur), workflow.current_answers(db, ADMIN, "C1", OWN).height


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("own", [True, False], ids=["own unit", "other unit"])
@pytest.mark.parametrize("op", UNIT_OPS)
def test_unit_operations(org, role, own, op):
    actor = ACTORS[role]
    unit = OWN if own else OTHER
    if role in UNIT_ALLOWED[op][own]:
        UNIT_OPS[op](org, actor, unit)
        return
    # Denied: the engine refuses, and nothing the actor asked for is written.
    if op in ("approve", "return"):
        _submitted(org, unit)
    if op == "submit":
        workflow.save_answers(org, ADMIN, "C1", unit, FULL, today=TODAY)
    if op in RECORD_SETUP:
        # The op sets up its record as ADMIN, then the denied actor's own call must fail and write nothing.
        with pytest.raises(PermissionDenied):
            _denied_record_op(org, op, actor, unit)
        return
    before = _state(org)
    with pytest.raises(PermissionDenied):
        if op == "submit":
            workflow.submit(org, actor, "C1", unit, today=TODAY)
        elif op == "approve":
            workflow.approve(org, actor, "C1", unit)
        elif op == "return":
            workflow.return_for_rework(org, actor, "C1", unit, "x")
        else:
            UNIT_OPS[op](org, actor, unit)
    assert _state(org) == before


def _denied_record_op(db, op, actor, unit):
    """Run a record operation's setup as ADMIN, then check that the actor's own call writes nothing."""
    sid = _with_service(db, unit)
    if op == "read exercise":
        eid = exercises.record_exercise(db, ADMIN, Exercise(TODAY, "failover", "x", (ExerciseResult(sid, 30),)),
                                        today=TODAY)
    if op == "read incident":
        start = datetime.combine(TODAY, time(8))
        iid = incidents.record_incident(db, ADMIN, Incident("x", "high", start, (AffectedService(sid),)), now=start)
    before = _state(db)
    try:
        if op == "update service":
            services.update_service(db, actor, _service(unit, rto_minutes=30), base_revision=1)
        elif op == "deactivate service":
            services.deactivate_service(db, actor, sid, base_revision=1, reason="retired")
        elif op == "read service":
            services.get_service(db, actor, sid)
        elif op == "read exercise":
            exercises.get_exercise(db, actor, eid)
        else:
            incidents.get_incident(db, actor, iid)
    finally:
        assert _state(db) == before


def op_create_campaign(db, actor, mini_q):
    campaigns.create(db, actor, "C2", "Cycle 2", mini_q, date(2026, 9, 1), date(2026, 9, 30), date(2026, 10, 15))


def op_close_campaign(db, actor, mini_q):
    campaigns.set_status(db, actor, "C1", "closed")


def op_register_questionnaire(db, actor, mini_q):
    catalog.register_questionnaire(db, actor, mini_q)


def op_list_users(db, actor, mini_q):
    users.list_users(db, actor)


def op_create_user(db, actor, mini_q):
    users.create(db, actor, "new.user", "New", access.LEADERSHIP, "correct horse battery staple")


def op_send_reminders(db, actor, mini_q):
    reminders.run(db, actor, TODAY, dry_run=True)


def op_other_users_calendar(db, actor, mini_q):
    try:
        ical.user_calendar(db, actor, "someone.else", TODAY)
    except NotFound:  # the access check came first and passed
        pass


def op_read_audit(db, actor, mini_q):
    audit.entries(db, actor)


def op_verify_audit(db, actor, mini_q):
    audit.verify(db, actor)


def op_rescore(db, actor, mini_q):
    workflow.rescore_campaign(db, actor, "C1")


def op_create_supplier(db, actor, mini_q):
    services.create_supplier(db, actor, supplier_id="ACME", name="Acme")


def op_create_site(db, actor, mini_q):
    services.create_site(db, actor, site_id="DC1", name="Data centre")


def op_record_exercise(db, actor, mini_q):
    sid = _with_service(db, "U1")
    exercises.record_exercise(db, actor, Exercise(TODAY, "restore_test", "x", (ExerciseResult(sid, 30),)),
                              today=TODAY)


def _an_exercise(db) -> str:
    """An exercise of U1's service recorded by the administrator (once)."""
    log = exercises.exercise_log(db, ADMIN)
    if log.height:
        return log["exercise_id"][0]
    sid = _with_service(db, "U1")
    return exercises.record_exercise(db, ADMIN, Exercise(TODAY, "failover", "x", (ExerciseResult(sid, 30),)),
                                     today=TODAY)


def op_withdraw_exercise(db, actor, mini_q):
    exercises.withdraw_exercise(db, actor, _an_exercise(db), reason="wrong")


def op_record_incident(db, actor, mini_q):
    sid = _with_service(db, "U1")
    start = datetime.combine(TODAY, time(8))
    incidents.record_incident(db, actor, Incident("x", "high", start, (AffectedService(sid),)), now=start)


GLOBAL_OPS = {
    "create campaign": (op_create_campaign, {"admin", "manager"}),
    "close campaign": (op_close_campaign, {"admin", "manager"}),
    "register questionnaire": (op_register_questionnaire, {"admin", "manager"}),
    "rescore campaign": (op_rescore, {"admin", "manager"}),
    "list users": (op_list_users, {"admin"}),
    "create user": (op_create_user, {"admin"}),
    "read audit": (op_read_audit, {"admin", "auditor", "auditor+import"}),
    "verify audit": (op_verify_audit, {"admin", "auditor", "auditor+import"}),
    "create supplier": (op_create_supplier, {"admin", "manager"}),
    "create site": (op_create_site, {"admin", "manager"}),
    "record exercise": (op_record_exercise, {"admin", "manager"}),
    "withdraw exercise": (op_withdraw_exercise, {"admin", "manager"}),
    "record incident": (op_record_incident, {"admin", "manager"}),
    "send reminders": (op_send_reminders, {"admin"}),
    "another user's calendar": (op_other_users_calendar, {"admin"}),
}


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("op", GLOBAL_OPS)
def test_global_operations(org, mini_q, role, op):
    fn, allowed = GLOBAL_OPS[op]
    if role in allowed:
        fn(org, ACTORS[role], mini_q)
        return
    if op in ("record exercise", "record incident"):
        _with_service(org, "U1")  # the setup is the administrator's; only the actor's call must fail
    if op == "withdraw exercise":
        _an_exercise(org)
    before = _state(org)
    with pytest.raises(PermissionDenied):
        fn(org, ACTORS[role], mini_q)
    assert _state(org) == before


@pytest.mark.parametrize("role, units", [("head", {OWN}), ("leadership", {"U1", "U2", "U3"}),
                                         ("auditor", {"U1", "U2", "U3"})])
def test_reports_only_cover_readable_units(org, role, units):
    actor = ACTORS[role]
    for unit in ("U1", "U2", "U3"):
        workflow.save_answers(org, ADMIN, "C1", unit, FULL, today=TODAY)
        workflow.submit(org, ADMIN, "C1", unit, today=TODAY)
    assert set(reports.units(org, actor, "C1")["unit_id"]) == units
    assert reports.summary(org, actor, "C1", today=TODAY)["units_scored"] == len(units)
    assert set(catalog.units(org, actor)["unit_id"]) == units
    # Asking for another unit explicitly does not widen what a head can read.
    asked = reports.Filters(unit_ids=("U3",))
    assert set(reports.units(org, actor, "C1", asked)["unit_id"]) == units & {"U3"}
    assert set(reports.deadlines(org, actor, "C1", today=TODAY)["unit_id"]) <= units


def test_every_permission_is_exercised():
    covered = {"read", "answer", "submit", "review", "manage_campaigns", "manage_questionnaires", "manage_units",
               "manage_users", "read_audit", "manage_services", "manage_suppliers", "record_exercises",
               "record_incidents", "send_reminders", "user_calendars"}
    # export, template, import and backup are covered by the Excel and backup test suites, review_pack by
    # tests/test_review_pack.py, the action permissions by tests/test_actions.py (test_action_operations_by_role).
    actions = {"create_actions", "update_own_actions", "manage_actions", "verify_actions"}
    assert covered | {"export", "template", "import", "backup", "review_pack"} | actions == set(access.PERMISSIONS)


def test_import_needs_grant_for_auditors_and_own_unit_for_heads():
    assert not access.allowed(ACTORS["auditor"], "import", OWN)
    assert access.allowed(ACTORS["auditor+import"], "import", OWN)
    assert access.allowed(ACTORS["head"], "import", OWN)
    assert not access.allowed(ACTORS["head"], "import", OTHER)
    assert not access.allowed(ACTORS["leadership"], "import", OWN)
