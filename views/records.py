"""Continuity records: the service register (recovery objectives, dependencies), the exercise and test log
and the incident log. Heads maintain their own units' services and see their exercises and incidents; the
continuity office records everything; leadership and auditors read."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time

import polars as pl
import streamlit as st

from assessment import access, clock, durations, exercises, incidents, services
from assessment.errors import StaleWrite, ValidationError
from assessment.model import (
    EXERCISE_TYPES,
    RECOVERY_TIERS,
    SEVERITIES,
    AffectedService,
    Exercise,
    ExerciseResult,
    Incident,
    Service,
)
from ui import records as r
from ui import widgets as w
from ui.cache import read
from ui.format import plain
from ui.session import require_actor
from ui.state import get_db

db = get_db()
actor = require_actor(db)
ss = st.session_state

NEW = "+ new service"
SVC_FIELDS = ("name", "unit", "owner", "tier", "activity", "mtpd", "rto", "rpo", "holds_data", "msl",
              "approved_by", "approved_on", "next_review", "deps")
MET = {"yes": "Met", "no": "Not met", "unknown": "Not assessed"}


def k(*parts: str) -> str:
    return "rec|" + "|".join(parts)


# ---- services -----------------------------------------------------------------------------------------------

def _load_service(sid: str) -> None:
    """Put a stored service (or blanks for a new one) into the form, and remember the revision it started from."""
    row = services.get_service(db, actor, sid) if sid != NEW else None
    values = {"name": "", "unit": None, "owner": "", "tier": 2, "activity": "", "mtpd": "", "rto": "", "rpo": "",
              "holds_data": True, "msl": "", "approved_by": "", "approved_on": None, "next_review": None, "deps": ""}
    if row:
        values = {"name": row["name"], "unit": row["unit_id"], "owner": row["owner"], "tier": row["recovery_tier"],
                  "activity": row["activity"] or "", "mtpd": durations.format(row["mtpd_minutes"]),
                  "rto": durations.format(row["rto_minutes"]), "rpo": durations.format(row["rpo_minutes"]),
                  "holds_data": row["holds_data"], "msl": row["min_service_level"] or "",
                  "approved_by": row["approved_by"] or "", "approved_on": row["approved_on"],
                  "next_review": row["next_review"], "deps": r.dependencies_text(row["dependencies"])}
    for f, v in values.items():
        ss[k("svc", f)] = v
    ss[k("svc", "id")] = "" if row is None else sid
    ss[k("svc", "loaded")] = sid
    ss[k("svc", "base")] = row["revision"] if row else None
    ss.pop(k("svc", "stale"), None)


def _form_service() -> Service:
    """The service in the form; every unreadable duration or dependency line at once as a ValidationError."""
    def v(f):
        return ss.get(k("svc", f))
    minutes, problems = r.read_durations({"mtpd": v("mtpd"), "rto": v("rto"), "rpo": v("rpo")})
    deps, dep_problems = r.parse_dependencies(v("deps"))
    problems += dep_problems
    if not v("unit"):
        problems.append("unit_id: choose the owning business unit")
    if problems:
        raise ValidationError(problems, "service form")
    return Service(service_id=(v("id") or "").strip(), name=v("name") or "", unit_id=v("unit"),
                   owner=v("owner") or "", recovery_tier=int(v("tier")), activity=v("activity") or "",
                   mtpd_minutes=minutes["mtpd"], rto_minutes=minutes["rto"], rpo_minutes=minutes["rpo"],
                   holds_data=bool(v("holds_data")), min_service_level=v("msl") or "",
                   approved_by=v("approved_by") or "", approved_on=v("approved_on"), next_review=v("next_review"),
                   dependencies=deps)


def _stale(exc: StaleWrite) -> None:
    ss[k("svc", "stale")] = str(exc)


@w.callback
def on_save_service() -> None:
    try:
        s = _form_service()
    except ValidationError as exc:
        w.flash("error", w.error_text(exc))
        return
    base = ss.get(k("svc", "base"))
    if base is None:
        done = w.run_action(services.create_service, db, actor, s,
                            success=f"Service {plain(s.service_id)} added to the register.")
    else:
        done = w.run_action(services.update_service, db, actor, s, base_revision=base, handle={StaleWrite: _stale},
                            success=lambda rev: f"Service {plain(s.service_id)} saved (revision {rev}).")
    if done.ok:
        ss[k("svc", "pick")] = s.service_id
        ss.pop(k("svc", "loaded"), None)  # reload the stored version (new revision) on the next run


@w.callback
def on_reload_service() -> None:
    _load_service(ss[k("svc", "loaded")])


@w.callback
def on_deactivate() -> None:
    sid = ss[k("svc", "loaded")]
    done = w.run_action(services.deactivate_service, db, actor, sid, base_revision=ss[k("svc", "base")],
                        reason=ss.get(k("svc", "reason")) or "", handle={StaleWrite: _stale},
                        success=f"Service {plain(sid)} deactivated; its history stays.")
    if done.ok:
        ss.pop(k("svc", "loaded"), None)
        ss[k("svc", "pick")] = NEW


def service_register() -> None:
    listing = read(db, actor, services.list_services)
    st.caption("The services of the units you may read, with their recovery objectives (MTPD ≥ RTO; RPO where "
               "data is held) and when they are next reviewed.")
    st.dataframe(r.as_text(listing).select(
        "service_id", "name", "unit", "recovery_tier", "owner", "mtpd", "rto", "rpo", "holds_data", "approved_by",
        "approved_on", "next_review", "revision"), hide_index=True, key=k("svc", "table"),
        column_config={"service_id": "Service", "name": "Name", "unit": "Unit", "recovery_tier": "Tier",
                       "owner": "Owner", "mtpd": "MTPD", "rto": "RTO", "rpo": "RPO", "holds_data": "Holds data",
                       "approved_by": "Approved by", "approved_on": st.column_config.DateColumn("Approved on"),
                       "next_review": st.column_config.DateColumn("Next review"), "revision": "Revision"})
    with st.expander("Dependencies"):
        deps = read(db, actor, services.list_dependencies)
        st.dataframe(r.as_text(deps), hide_index=True, key=k("svc", "deps_table"))
    manageable = w.unit_options(db, actor, "manage_services")
    if not access.allowed(actor, "manage_services") or not manageable:
        return
    st.subheader("Add or change a service")
    mine = listing.filter(pl.col("unit_id").is_in(list(manageable)))
    options = {NEW: NEW, **{row["service_id"]: f"{row['service_id']} · {row['name']}"
                            for row in mine.iter_rows(named=True)}}
    sid = w.select("Service", options, key=k("svc", "pick"))
    if ss.get(k("svc", "loaded")) != sid:
        _load_service(sid)
    if ss.get(k("svc", "stale")):
        st.warning(plain(ss[k("svc", "stale")]), icon=":material/sync_problem:")
        st.button("Load their version (drops your changes)", key=k("svc", "reload"), on_click=on_reload_service)
    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        c1.text_input("Service id", key=k("svc", "id"), disabled=sid != NEW, placeholder="e.g. PAY-GW")
        c2.text_input("Name", key=k("svc", "name"))
        with c3:
            w.select("Owning unit", manageable, key=k("svc", "unit"), index=None)
        c1, c2, c3 = st.columns(3)
        c1.text_input("Owner (user name)", key=k("svc", "owner"))
        c2.selectbox("Recovery tier", list(RECOVERY_TIERS), format_func=RECOVERY_TIERS.get, key=k("svc", "tier"))
        c3.text_input("Business activity supported", key=k("svc", "activity"))
        c1, c2, c3 = st.columns(3)
        with c1:
            r.duration_input("MTPD (maximum tolerable period of disruption)", k("svc", "mtpd"))
        with c2:
            r.duration_input("RTO (recovery time objective)", k("svc", "rto"))
        with c3:
            r.duration_input("RPO (recovery point objective)", k("svc", "rpo"))
        c1, c2, c3, c4 = st.columns(4)
        c1.checkbox("Holds data (needs an RPO)", key=k("svc", "holds_data"))
        c2.text_input("Minimum service level", key=k("svc", "msl"))
        c3.text_input("Objectives approved by", key=k("svc", "approved_by"))
        c4.date_input("Approved on", key=k("svc", "approved_on"), max_value=clock.today(), format="YYYY-MM-DD")
        c1, c2 = st.columns([1, 3])
        c1.date_input("Next review", key=k("svc", "next_review"), format="YYYY-MM-DD")
        c2.text_area("Dependencies, one per line: kind id | note | accepted inversion", key=k("svc", "deps"),
                     height=110, placeholder="service CORE-DB | postings\nsupplier SWIFTNET | clearing\nsite DC-NORTH",
                     help="kind is service, supplier or site. Fill the third part only to accept formally that this "
                          "service depends on one with a longer RTO (say why and who accepted it).")
        st.button("Add service" if sid == NEW else "Save changes", type="primary", icon=":material/save:",
                  key=k("svc", "save"), on_click=on_save_service)
    if sid != NEW:
        with st.expander(f"Deactivate {sid} or see its history"):
            st.text_input("Why does the service leave the register?", key=k("svc", "reason"))
            st.button("Deactivate", icon=":material/archive:", key=k("svc", "deactivate"), on_click=on_deactivate)
            hist = read(db, actor, services.history, sid)
            st.dataframe(r.as_text(hist).select("revision", "change", "updated_at", "updated_by", "rto", "rpo",
                                                "mtpd", "dependencies"), hide_index=True, key=k("svc", "history"))


# ---- exercises ----------------------------------------------------------------------------------------------

def _exercise_results(scope: list[str]) -> tuple[tuple[ExerciseResult, ...], list[str]]:
    results, problems = [], []
    for sid in scope:
        minutes, bad = r.read_durations({f"{sid} recovery time": ss.get(k("ex", sid, "took")),
                                         f"{sid} data lost": ss.get(k("ex", sid, "lost"))})
        problems += bad
        results.append(ExerciseResult(sid, minutes[f"{sid} recovery time"], minutes[f"{sid} data lost"],
                                      ss.get(k("ex", sid, "findings")) or ""))
    return tuple(results), problems


@w.callback
def on_record_exercise() -> None:
    scope = ss.get(k("ex", "services")) or []
    results, problems = _exercise_results(scope)
    if problems:
        w.flash("error", w.error_text(ValidationError(problems)))
        return
    met = ss.get(k("ex", "met"))
    x = Exercise(exercise_date=ss[k("ex", "date")], exercise_type=ss[k("ex", "type")],
                 title=ss.get(k("ex", "title")) or "", results=results, scenario=ss.get(k("ex", "scenario")) or "",
                 participants=ss.get(k("ex", "participants")) or "",
                 supplier_ids=tuple(ss.get(k("ex", "suppliers")) or ()),
                 objectives=ss.get(k("ex", "objectives")) or "",
                 objectives_met=None if met == "unknown" else met == "yes", report_url=ss.get(k("ex", "url")) or "")
    done = w.run_action(exercises.record_exercise, db, actor, x,
                        success=lambda xid: f"Exercise {xid} recorded with {len(results)} result(s).")
    if done.ok:
        for key in [key for key in ss if str(key).startswith(k("ex", ""))]:
            del ss[key]


@w.callback
def on_withdraw_exercise() -> None:
    xid = ss.get(k("exw", "pick"))
    done = w.run_action(exercises.withdraw_exercise, db, actor, xid, reason=ss.get(k("exw", "reason")) or "",
                        success=f"Exercise {plain(xid)} withdrawn: it no longer counts as proof.")
    if done.ok:
        ss[k("exw", "reason")] = ""


def exercise_log() -> None:
    withdrawn = st.toggle("Include withdrawn exercises", key=k("ex", "withdrawn_too"))
    log = read(db, actor, exercises.exercise_log, include_withdrawn=withdrawn)
    st.caption("One row per service tested, newest first: the recovery time and data loss achieved against the "
               "RTO and RPO the service had on the day. A result passes when the recovery met the RTO and the data "
               "lost stayed within the RPO.")
    if log.height == 0:
        st.info("No exercises recorded for your units yet.", icon=":material/info:")
    else:
        table = r.as_text(log).with_columns(pl.col("exercise_type").replace_strict(EXERCISE_TYPES,
                                                                                    default=pl.col("exercise_type")))
        st.dataframe(table.select("exercise_id", "exercise_date", "exercise_type", "title", "service_id", "unit",
                                  "achieved_recovery", "rto", "achieved_data_loss", "rpo", "passed", "findings",
                                  "suppliers", "report_url", "withdrawn_at", "withdrawn_reason"),
                     hide_index=True, key=k("ex", "table"),
                     column_config={"exercise_id": "Exercise", "exercise_date": st.column_config.DateColumn("Date"),
                                    "exercise_type": "Type", "title": "Title", "service_id": "Service",
                                    "unit": "Unit", "achieved_recovery": "Recovered in", "rto": "RTO",
                                    "achieved_data_loss": "Data lost", "rpo": "RPO", "passed": "Passed",
                                    "report_url": st.column_config.LinkColumn("Report")})
    if not access.allowed(actor, "record_exercises"):
        return
    st.subheader("Record an exercise")
    register = read(db, actor, services.list_services)
    names = dict(register.select("service_id", pl.format("{} · {}", "service_id", "name").alias("label")).iter_rows())
    suppliers = read(db, actor, services.suppliers)
    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        c1.date_input("Date", key=k("ex", "date"), value=clock.today(), max_value=clock.today(), format="YYYY-MM-DD")
        c2.selectbox("Type", list(EXERCISE_TYPES), format_func=EXERCISE_TYPES.get, key=k("ex", "type"), index=3)
        c3.text_input("Title", key=k("ex", "title"))
        c1, c2 = st.columns(2)
        c1.text_area("Scenario", key=k("ex", "scenario"), height=68)
        c2.text_area("Objectives", key=k("ex", "objectives"), height=68)
        c1, c2, c3 = st.columns(3)
        c1.text_input("Participants", key=k("ex", "participants"))
        c2.multiselect("Suppliers taking part", suppliers["supplier_id"].to_list(), key=k("ex", "suppliers"),
                       format_func=dict(suppliers.select("supplier_id", "name").iter_rows()).get)
        c3.selectbox("Objectives", list(MET), format_func=MET.get, key=k("ex", "met"))
        st.text_input("Report link", key=k("ex", "url"), placeholder="https://…")
        scope = st.multiselect("Services in scope", list(names), format_func=names.get, key=k("ex", "services"))
        for sid in scope:
            c1, c2, c3 = st.columns([1, 1, 2])
            with c1:
                r.duration_input(f"{sid}: recovered in", k("ex", sid, "took"))
            with c2:
                r.duration_input(f"{sid}: data lost", k("ex", sid, "lost"))
            c3.text_input(f"{sid}: findings", key=k("ex", sid, "findings"))
        st.button("Record exercise", type="primary", icon=":material/save:", key=k("ex", "save"),
                  on_click=on_record_exercise)
    ids = [] if log.height == 0 else log.filter(pl.col("withdrawn_at").is_null())["exercise_id"].unique(
        maintain_order=True).to_list()
    if ids:
        with st.expander("Withdraw an exercise recorded in error"):
            titles = dict(log.select("exercise_id", pl.format("{} · {} · {}", "exercise_id", "exercise_date",
                                                              "title").alias("label")).unique("exercise_id").iter_rows())
            w.select("Exercise", {i: titles[i] for i in ids}, key=k("exw", "pick"))
            st.text_input("Why is it withdrawn?", key=k("exw", "reason"))
            st.button("Withdraw", icon=":material/undo:", key=k("exw", "go"), on_click=on_withdraw_exercise)


# ---- incidents ----------------------------------------------------------------------------------------------

def _at(prefix: str) -> datetime | None:
    day = ss.get(k(prefix, "day"))
    return None if day is None else datetime.combine(day, ss.get(k(prefix, "time")) or time(0))


@w.callback
def on_record_incident() -> None:
    scope = ss.get(k("inc", "services")) or []
    affected, problems = [], []
    for sid in scope:
        minutes, bad = r.read_durations({f"{sid} outage": ss.get(k("inc", sid, "outage")),
                                         f"{sid} data lost": ss.get(k("inc", sid, "lost"))})
        problems += bad
        affected.append(AffectedService(sid, minutes[f"{sid} outage"], minutes[f"{sid} data lost"]))
    start = _at("inc_start")
    if start is None:
        problems.append("started_at: give the start date")
    if problems:
        w.flash("error", w.error_text(ValidationError(problems)))
        return
    x = Incident(title=ss.get(k("inc", "title")) or "", severity=ss[k("inc", "severity")], started_at=start,
                 services=tuple(affected), ended_at=_at("inc_end") if ss.get(k("inc", "ended")) else None,
                 plan_invoked=bool(ss.get(k("inc", "invoked"))), postmortem_due=ss.get(k("inc", "pm_due")),
                 report_url=ss.get(k("inc", "report")) or "", ticket_url=ss.get(k("inc", "ticket")) or "")
    done = w.run_action(incidents.record_incident, db, actor, x, success=lambda iid: f"Incident {iid} recorded.")
    if done.ok:
        for key in [key for key in ss if str(key).startswith((k("inc", ""), k("inc_start", ""), k("inc_end", "")))]:
            del ss[key]


def _incident_stale(exc: StaleWrite) -> None:
    ss[k("pm", "stale")] = str(exc)


@w.callback
def on_update_incident(iid: str, base: int) -> None:
    current = incidents.as_incident(incidents.get_incident(db, actor, iid))
    changed = replace(current, postmortem_done=ss.get(k("pm", iid, "done")),
                      ended_at=_at("pm_end") or current.ended_at,
                      report_url=ss.get(k("pm", iid, "report")) or current.report_url)
    done = w.run_action(incidents.update_incident, db, actor, iid, changed, base_revision=base,
                        handle={StaleWrite: _incident_stale},
                        success=lambda rev: f"Incident {plain(iid)} updated (revision {rev}).")
    if done.ok:
        for key in [key for key in ss if str(key).startswith((k("pm", ""), k("pm_end", "")))]:
            del ss[key]


def incident_log() -> None:
    log = read(db, actor, incidents.incident_log)
    st.caption("Major incidents and plan invocations, one row per affected service: the outage against the RTO "
               "and the data lost against the RPO in force when it started, and the post-mortem. The crisis itself "
               "is handled in the ITSM tool the ticket links to.")
    if log.height == 0:
        st.info("No incidents recorded for your units.", icon=":material/info:")
    else:
        st.dataframe(r.as_text(log).select(
            "incident_id", "title", "severity", "started_at", "ended_at", "service_id", "unit", "outage", "rto",
            "over_rto", "data_loss", "rpo", "plan_invoked", "postmortem_due", "postmortem_done", "ticket_url",
            "report_url", "revision"), hide_index=True, key=k("inc", "table"),
            column_config={"incident_id": "Incident", "over_rto": "Over RTO", "postmortem_due": "Post-mortem due",
                           "postmortem_done": "Post-mortem done", "ticket_url": st.column_config.LinkColumn("Ticket"),
                           "report_url": st.column_config.LinkColumn("Report")})
    if not access.allowed(actor, "record_incidents"):
        return
    st.subheader("Record an incident or invocation")
    register = read(db, actor, services.list_services)
    names = dict(register.select("service_id", pl.format("{} · {}", "service_id", "name").alias("label")).iter_rows())
    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.text_input("Title", key=k("inc", "title"))
        c2.selectbox("Severity", list(SEVERITIES), format_func=SEVERITIES.get, key=k("inc", "severity"))
        c3.checkbox("Continuity plan invoked", key=k("inc", "invoked"))
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.date_input("Started on", key=k("inc_start", "day"), value=clock.today(), max_value=clock.today(),
                      format="YYYY-MM-DD")
        c2.time_input("Started at (UTC)", key=k("inc_start", "time"), value=time(0))
        ended = c3.checkbox("It has ended", key=k("inc", "ended"))
        c4.date_input("Ended on", key=k("inc_end", "day"), value=clock.today(), max_value=clock.today(),
                      format="YYYY-MM-DD", disabled=not ended)
        c5.time_input("Ended at (UTC)", key=k("inc_end", "time"), value=time(0), disabled=not ended)
        c1, c2, c3 = st.columns(3)
        c1.date_input("Post-mortem due", key=k("inc", "pm_due"), value=None, format="YYYY-MM-DD")
        c2.text_input("ITSM ticket link", key=k("inc", "ticket"), placeholder="https://…")
        c3.text_input("Report link", key=k("inc", "report"), placeholder="https://…")
        scope = st.multiselect("Services affected", list(names), format_func=names.get, key=k("inc", "services"))
        for sid in scope:
            c1, c2 = st.columns(2)
            with c1:
                r.duration_input(f"{sid}: outage (blank: the whole incident)", k("inc", sid, "outage"))
            with c2:
                r.duration_input(f"{sid}: data lost", k("inc", sid, "lost"))
        st.button("Record incident", type="primary", icon=":material/save:", key=k("inc", "save"),
                  on_click=on_record_incident)
    if log.height == 0:
        return
    st.subheader("Close an incident or record its post-mortem")
    heads = log.unique("incident_id", keep="first", maintain_order=True)
    labels = dict(heads.select("incident_id", pl.format("{} · {} · {}", "incident_id", "title",
                                                        pl.col("started_at").dt.date()).alias("label")).iter_rows())
    iid = w.select("Incident", labels, key=k("pm", "pick"))
    row = heads.filter(pl.col("incident_id") == iid).row(0, named=True)
    # The revision the edit starts from is fixed when the incident is picked, so a change made by someone
    # else meanwhile is reported instead of overwritten.
    if ss.get(k("pm", "for")) != iid:
        ss[k("pm", "for")], ss[k("pm", "base")] = iid, row["revision"]
        ss.pop(k("pm", "stale"), None)
    if ss.get(k("pm", "stale")):
        st.warning(plain(ss[k("pm", "stale")]), icon=":material/sync_problem:")
        if st.button("Start again from their version", key=k("pm", "rebase")):
            ss[k("pm", "base")] = row["revision"]
            ss.pop(k("pm", "stale"))
            st.rerun()
    with st.container(border=True):
        st.caption(f"Post-mortem: {'done on ' + str(row['postmortem_done']) if row['postmortem_done'] else 'not done'}"
                   f" · ended: {row['ended_at'] or 'ongoing'}")
        c1, c2, c3, c4 = st.columns(4)
        c1.date_input("Post-mortem done on", key=k("pm", iid, "done"), value=row["postmortem_done"],
                      max_value=clock.today(), format="YYYY-MM-DD")
        c2.text_input("Post-mortem report link", key=k("pm", iid, "report"), placeholder="https://…")
        c3.date_input("Ended on (if it has)", key=k("pm_end", "day"), value=None, max_value=clock.today(),
                      format="YYYY-MM-DD")
        c4.time_input("Ended at (UTC)", key=k("pm_end", "time"), value=time(0))
        st.button("Save incident", type="primary", icon=":material/save:", key=k("pm", "save"),
                  on_click=on_update_incident, args=(iid, ss[k("pm", "base")]))


# ---- page ---------------------------------------------------------------------------------------------------
w.header("Continuity records",
         "The facts the maturity answers are checked against: the services with their recovery objectives, the "
         "exercises and tests that proved (or did not prove) their recovery, and the incidents that hit them.")
w.show_flash()
tabs = st.tabs(["Services", "Exercises and tests", "Incidents"])
with tabs[0]:
    service_register()
with tabs[1]:
    exercise_log()
with tabs[2]:
    incident_log()
