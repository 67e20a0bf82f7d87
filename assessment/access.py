"""Who may do what: roles, actions and unit scoping, checked by every engine operation."""

from __future__ import annotations

from .errors import PermissionDenied
from .model import Actor

ADMIN, MANAGER, HEAD, LEADERSHIP, AUDITOR = (
    "administrator", "continuity_manager", "department_head", "leadership", "auditor")
ROLES = (ADMIN, MANAGER, HEAD, LEADERSHIP, AUDITOR)
ROLE_LABELS = {
    ADMIN: "Administrator", MANAGER: "Continuity manager", HEAD: "Department head",
    LEADERSHIP: "Leadership", AUDITOR: "Auditor",
}

# action -> roles allowed; unit-scoped actions are further limited to a head's own units.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "answer": frozenset({ADMIN, HEAD}),
    "submit": frozenset({ADMIN, HEAD}),
    "review": frozenset({ADMIN, MANAGER}),
    "manage_campaigns": frozenset({ADMIN, MANAGER}),
    "manage_questionnaires": frozenset({ADMIN, MANAGER}),
    "manage_units": frozenset({ADMIN, MANAGER}),
    "manage_users": frozenset({ADMIN}),
    "export": frozenset({ADMIN, MANAGER, AUDITOR, LEADERSHIP}),
    "template": frozenset({ADMIN, MANAGER, HEAD}),
    "import": frozenset({ADMIN, MANAGER, HEAD, AUDITOR}),
    "read_audit": frozenset({ADMIN, AUDITOR}),
    "backup": frozenset({ADMIN}),
    # Continuity records: heads maintain the services of their own units; exercises, incidents and the
    # supplier and site registers are the continuity office's. Everyone reads (heads their own units).
    "manage_services": frozenset({ADMIN, MANAGER, HEAD}),
    "manage_suppliers": frozenset({ADMIN, MANAGER}),
    "record_exercises": frozenset({ADMIN, MANAGER}),
    "record_incidents": frozenset({ADMIN, MANAGER}),
    "send_reminders": frozenset({ADMIN}),  # the reminder job (`itscm remind`) mails everyone their digest
    "user_calendars": frozenset({ADMIN}),  # anyone's own calendar is "read"; another user's is this
    # The management-review pack reads the whole organisation's figures: not for department heads.
    "review_pack": frozenset({ADMIN, MANAGER, LEADERSHIP, AUDITOR}),
    # Improvement actions: heads raise them for their own units; an owner moves their own up to done; the
    # continuity office manages every action and alone verifies them or accepts a risk.
    "create_actions": frozenset({ADMIN, MANAGER, HEAD}),
    "update_own_actions": frozenset({ADMIN, MANAGER, HEAD, LEADERSHIP}),
    "manage_actions": frozenset({ADMIN, MANAGER}),
    "verify_actions": frozenset({ADMIN, MANAGER}),
}
UNIT_SCOPED_ROLES = frozenset({HEAD})

SYSTEM = Actor("system", ADMIN, source="cli")


def allowed(actor: Actor, action: str, unit_id: str | None = None) -> bool:
    roles = PERMISSIONS.get(action)
    if roles is None:
        raise KeyError(f"unknown action {action!r}")
    if actor.role not in roles:
        return False
    if action == "import" and actor.role == AUDITOR and not actor.can_import:
        return False
    if actor.role in UNIT_SCOPED_ROLES and unit_id is not None:
        return unit_id in actor.units
    return True


def require(actor: Actor, action: str, unit_id: str | None = None) -> None:
    if not allowed(actor, action, unit_id):
        target = f" for unit {unit_id}" if unit_id else ""
        raise PermissionDenied(f"{actor.username} ({ROLE_LABELS.get(actor.role, actor.role)}) may not {action}{target}")


def readable_units(actor: Actor) -> tuple[str, ...] | None:
    """None means every unit; a tuple limits reads to those units."""
    require(actor, "read")
    if actor.role in UNIT_SCOPED_ROLES:
        return tuple(sorted(actor.units))
    return None
