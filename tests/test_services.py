"""The service register through the engine: validation with every problem at once, RTO inversions and cycles
named, stale writes refused, every version kept and read back as of a date, suppliers and sites."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import pytest

from assessment import audit, clock, services
from assessment.errors import InvalidState, NotFound, StaleWrite, ValidationError
from assessment.model import Dependency, Service
from assessment.service_checks import validate_services
from assessment.storage import audit as audit_sql

from .conftest import ADMIN
from .helpers.records import T0, core_db, pay_gw


def problems(exc: pytest.ExceptionInfo) -> list[str]:
    return exc.value.problems


def test_a_service_reads_back_with_its_dependencies_and_revision(reg):
    s = services.get_service(reg, ADMIN, "PAY-GW")
    assert (s["revision"], s["rto_minutes"], s["unit_id"], s["updated_at"]) == (1, 120, "U1", T0)
    assert [(d["kind"], d["target_id"], d["note"]) for d in s["dependencies"]] == [
        ("service", "CORE-DB", "ledger"), ("supplier", "ACME", "hosting")]
    assert services.as_service(s) == pay_gw()


def test_every_problem_at_once_each_naming_service_and_field(reg):
    bad = Service("X-1", "", "NOPE", "Not A User", 7, mtpd_minutes=60, rto_minutes=120, rpo_minutes=None,
                  dependencies=(Dependency("supplier", "GHOST"), Dependency("site", "MOON"),
                                Dependency("service", "X-1"), Dependency("planet", "Mars")))
    with pytest.raises(ValidationError) as err:
        services.create_service(reg, ADMIN, bad)
    assert problems(err) == [
        "X-1.name: a service needs a name",
        "X-1.owner: Not A User is not a user name (lower-case letters, digits, '.', '_', '@' or '-')",
        "X-1.recovery_tier: expected a recovery tier 1, 2, 3, 4, got 7",
        "X-1.rpo_minutes: the service holds data, so it needs an RPO (how much data loss is acceptable)",
        "X-1.rto_minutes: the RTO (2 h) is longer than the MTPD (1 h): recovery must finish within the maximum "
        "tolerable period of disruption",
        "X-1.unit_id: unknown or inactive business unit NOPE",
        "X-1.target_id: depends on GHOST, which is not a known supplier",
        "X-1.target_id: depends on MOON, which is not a known site",
        "X-1.target_id: a service cannot depend on itself",
        "X-1.kind: expected service, supplier, site, got planet",
    ]
    with reg.read() as cur:
        assert services.list_services(reg, ADMIN).height == 2  # nothing written
        assert audit_sql.head(cur)[0] == 4


def test_rto_inversion_names_the_chain_and_an_accepted_one_stands(reg):
    with pytest.raises(ValidationError) as err:
        services.update_service(reg, ADMIN, core_db(rto_minutes=480), base_revision=1)
    assert problems(err) == ["PAY-GW.target_id: RTO inversion: PAY-GW (RTO 2 h) depends on CORE-DB (RTO 8 h); "
                             "give it an RTO no longer than 2 h or accept the inversion with a reason"]
    # The owner of PAY-GW formally accepts the inversion: the register lets it stand.
    accepted = pay_gw(dependencies=(Dependency("service", "CORE-DB", "ledger",
                                               "Payments queue for 8 h; accepted by the board on 2025-01-20"),))
    services.update_service(reg, ADMIN, accepted, base_revision=1)
    services.update_service(reg, ADMIN, core_db(rto_minutes=480), base_revision=1)
    assert services.get_service(reg, ADMIN, "CORE-DB")["rto_minutes"] == 480


def test_inversion_is_found_through_services_without_an_rto(reg):
    services.create_service(reg, ADMIN, Service("MQ", "Message queue", "U1", "ivan.petrov", 2, holds_data=False,
                                                dependencies=(Dependency("service", "CORE-DB"),)))
    with pytest.raises(ValidationError) as err:
        services.create_service(reg, ADMIN, Service("FAST", "Instant payments", "U1", "amira.haddad", 1,
                                                    rto_minutes=30, rpo_minutes=0,
                                                    dependencies=(Dependency("service", "MQ"),)))
    assert problems(err) == ["FAST.target_id: RTO inversion: FAST (RTO 30 min) depends on MQ (no RTO), which "
                             "depends on CORE-DB (RTO 1 h); give it an RTO no longer than 30 min or accept the "
                             "inversion with a reason"]


def test_a_dependency_cycle_is_named(reg):
    with pytest.raises(ValidationError) as err:
        services.update_service(reg, ADMIN, core_db(dependencies=(Dependency("service", "PAY-GW"),),
                                                    rto_minutes=120), base_revision=1)
    assert problems(err) == ["CORE-DB.target_id: dependency cycle: CORE-DB -> PAY-GW -> CORE-DB; a service "
                             "cannot need itself to recover"]


def test_a_stale_write_is_refused_and_names_who_changed_it(reg):
    with clock.frozen(datetime(2025, 3, 1, 14, 5)):
        services.update_service(reg, ADMIN.with_source("page"), pay_gw(rto_minutes=90), base_revision=1)
    with pytest.raises(StaleWrite, match="changed by system at 2025-03-01 14:05 UTC .revision 2, you started from 1"):
        services.update_service(reg, ADMIN, pay_gw(rto_minutes=100), base_revision=1)
    assert services.get_service(reg, ADMIN, "PAY-GW")["rto_minutes"] == 90


def test_history_keeps_every_version_and_as_of_reads_the_one_valid_then(reg):
    with clock.frozen(datetime(2025, 6, 1, 9)):
        services.update_service(reg, ADMIN, pay_gw(rto_minutes=90, dependencies=()), base_revision=1)
    with clock.frozen(datetime(2025, 9, 1, 9)):
        services.deactivate_service(reg, ADMIN, "PAY-GW", base_revision=2, reason="replaced by FAST")
    h = services.history(reg, ADMIN, "PAY-GW")
    assert h.select("revision", "rto_minutes", "active", "change").rows() == [
        (1, 120, True, "create"), (2, 90, True, "update"), (3, 90, False, "deactivate")]
    assert h["dependencies"].to_list() == ["service CORE-DB, supplier ACME", None, None]

    def rto_at(when):
        df = services.list_services(reg, ADMIN, at=when).filter(pl.col("service_id") == "PAY-GW")
        return df["rto_minutes"].to_list()

    assert rto_at(datetime(2025, 1, 9)) == []               # not yet registered
    assert rto_at(datetime(2025, 5, 31, 23, 59)) == [120]   # a cycle closed in May still sees 2 h
    assert rto_at(datetime(2025, 6, 1, 9)) == [90]
    assert rto_at(datetime(2025, 9, 2)) == []               # deactivated
    deps = services.list_dependencies(reg, ADMIN, at=datetime(2025, 5, 1))
    assert deps.filter(pl.col("service_id") == "PAY-GW").select("target_id", "target", "target_rto").rows() == [
        ("CORE-DB", "Core banking database", 60), ("ACME", "Acme Cloud", None)]
    assert services.list_services(reg, ADMIN, include_inactive=True).height == 2


def test_a_service_others_depend_on_cannot_be_deactivated(reg):
    with pytest.raises(ValidationError) as err:
        services.deactivate_service(reg, ADMIN, "CORE-DB", base_revision=1, reason="retired")
    assert problems(err) == ["PAY-GW.target_id: depends on CORE-DB, which is not a known active service"]
    with pytest.raises(ValidationError, match="reason"):
        services.deactivate_service(reg, ADMIN, "PAY-GW", base_revision=1, reason=" ")


def test_creating_twice_and_unknown_services(reg):
    with pytest.raises(InvalidState, match="already exists"):
        services.create_service(reg, ADMIN, pay_gw())
    with pytest.raises(NotFound):
        services.update_service(reg, ADMIN, pay_gw(service_id="NOPE"), base_revision=1)
    with pytest.raises(NotFound):
        services.history(reg, ADMIN, "NOPE")


def test_every_change_is_in_the_audit_trail_with_before_and_after(reg):
    services.update_service(reg, ADMIN, pay_gw(rto_minutes=90), base_revision=1)
    log = audit.entries(reg, ADMIN, object_type="service")
    assert sorted(log["action"].to_list()) == ["service.create", "service.create", "service.update"]
    upd = log.filter(pl.col("action") == "service.update").row(0, named=True)
    assert json.loads(upd["before_json"])["rto_minutes"] == 120 and json.loads(upd["after_json"])["rto_minutes"] == 90
    assert audit.verify(reg, ADMIN).ok
    assert set(audit.entries(reg, ADMIN)["action"]) >= {"supplier.create", "site.create"}


def test_suppliers_and_sites(reg):
    services.rename_supplier(reg, ADMIN, supplier_id="ACME", name="Acme Cloud Ltd")
    assert services.suppliers(reg, ADMIN).select("supplier_id", "name").rows() == [("ACME", "Acme Cloud Ltd")]
    with pytest.raises(InvalidState):
        services.create_site(reg, ADMIN, site_id="DC1", name="again")
    with pytest.raises(ValidationError) as err:
        services.create_site(reg, ADMIN, site_id="bad id!", name="")
    assert err.value.problems == ["site_id: 'bad id!' is not a usable id: letters, digits, '.', '_' or '-', at most 64",
                                  "name: a site needs a name"]
    with pytest.raises(NotFound):
        services.rename_site(reg, ADMIN, site_id="DC9", name="x")


def test_durations_may_be_given_as_text():
    s = services.service_input(service_id="A", name="A", unit_id="U1", owner="ab", recovery_tier=1, rto="4h",
                               rpo="PT15M", mtpd="1d", dependencies=[{"kind": "site", "target_id": "DC1"}])
    assert (s.rto_minutes, s.rpo_minutes, s.mtpd_minutes) == (240, 15, 1440)
    assert s.dependencies == (Dependency("site", "DC1"),)


# ---- the set validation the workbook import reuses -----------------------------------------------------

def test_validation_of_a_whole_register_locates_each_problem_by_row():
    svcs = pl.DataFrame({"service_id": ["A", "B", "A", "C"], "name": ["a", "b", "a2", "c"],
                         "unit_id": ["U1"] * 4, "owner": ["ab"] * 4, "recovery_tier": [1, 1, 2, 1],
                         "rto_minutes": [60, 30, 60, 10], "rpo_minutes": [0, 0, 0, 0]})
    deps = pl.DataFrame({"service_id": ["B", "C", "C", "B", "X"], "kind": ["service"] * 5,
                         "target_id": ["C", "B", "A", "C", "A"]})
    found = validate_services(svcs, deps, {"U1"}, set(), set())
    assert [(p.table, p.row, p.code) for p in found] == [
        ("services", 0, "duplicate"), ("services", 2, "duplicate"),
        ("dependencies", 0, "dependency_cycle"), ("dependencies", 0, "duplicate"),
        ("dependencies", 1, "rto_inversion"), ("dependencies", 2, "rto_inversion"),
        ("dependencies", 3, "duplicate"), ("dependencies", 4, "unknown_service")]
    cycle = next(p for p in found if p.code == "dependency_cycle")
    assert cycle.message.startswith("dependency cycle: B -> C -> B") and set(cycle.services) == {"B", "C"}
    assert next(p for p in found if p.code == "rto_inversion").message.startswith(
        "RTO inversion: C (RTO 10 min) depends on B (RTO 30 min)")
