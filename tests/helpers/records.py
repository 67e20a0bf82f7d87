"""The service register fixture shared by the continuity-record tests: three units, a supplier, a site and
two services (PAY-GW depends on CORE-DB), created at T0."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from assessment import access, clock, services
from assessment.model import Dependency, Service

from ..conftest import add_org

ADMIN = access.SYSTEM
T0 = datetime(2025, 1, 10, 9, 0)


@pytest.fixture
def reg(db):
    """Units U1, U2 (D1) and U3 (D2); supplier ACME, site DC1; CORE-DB and PAY-GW (PAY-GW depends on CORE-DB)."""
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2)])
    with clock.frozen(T0):
        services.create_supplier(db, ADMIN, supplier_id="ACME", name="Acme Cloud")
        services.create_site(db, ADMIN, site_id="DC1", name="Primary data centre")
        services.create_service(db, ADMIN, core_db())
        services.create_service(db, ADMIN, pay_gw())
    return db


def core_db(**changes) -> Service:
    base = dict(service_id="CORE-DB", name="Core banking database", unit_id="U1", owner="amira.haddad",
                recovery_tier=1, activity="Account keeping", mtpd_minutes=480, rto_minutes=60, rpo_minutes=5,
                approved_by="Head of Payments", approved_on=date(2025, 1, 5), next_review=date(2026, 1, 5),
                dependencies=(Dependency("site", "DC1", "primary site"),))
    return Service(**{**base, **changes})


def pay_gw(**changes) -> Service:
    base = dict(service_id="PAY-GW", name="Payment gateway", unit_id="U1", owner="amira.haddad", recovery_tier=1,
                mtpd_minutes=240, rto_minutes=120, rpo_minutes=5,
                dependencies=(Dependency("service", "CORE-DB", "ledger"), Dependency("supplier", "ACME", "hosting")))
    return Service(**{**base, **changes})
