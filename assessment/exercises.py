"""The exercise and test log through the engine: record an exercise with a result per service, judged against
the service's RTO and RPO in force on the exercise date; withdraw one recorded in error; read the log."""

from __future__ import annotations

from datetime import date

import polars as pl

from . import access, audit, clock
from .errors import InvalidState, NotFound, PermissionDenied, ValidationError
from .model import EXERCISE_TYPES, LINK_PREFIXES, Actor, Exercise
from .reports import Filters, scope_for
from .reuse import reused
from .service_checks import listed_services_problems
from .services import end_of_day
from .storage import Database
from .storage import exercises as exercises_sql
from .storage import services as services_sql


def judge(results: pl.DataFrame) -> pl.DataFrame:
    """Pass or fail of exercise results (columns achieved_recovery_minutes, achieved_data_loss_minutes,
    rto_minutes, rpo_minutes, holds_data): adds recovery_met, data_met and passed.

    recovery_met: the recovery took no longer than the RTO (null when either is unknown). data_met: the data
    lost is within the RPO (null when the service holds no data or either is unknown). passed: the recovery
    met the RTO and no measured data loss exceeded the RPO; null when the recovery could not be judged, so a
    result without a measured time, or of a service without an RTO, never counts as proof.
    """
    rec = pl.col("achieved_recovery_minutes") <= pl.col("rto_minutes")
    data = (pl.when(~pl.col("holds_data").fill_null(True)).then(None)
            .otherwise(pl.col("achieved_data_loss_minutes") <= pl.col("rpo_minutes")))
    return results.with_columns(rec.alias("recovery_met"), data.alias("data_met")).with_columns(
        pl.when(pl.col("recovery_met").is_null()).then(None)
        .otherwise(pl.col("recovery_met") & pl.col("data_met").fill_null(True)).alias("passed"))


def _problems(x: Exercise, today: date) -> list[str]:
    problems = []
    if x.exercise_type not in EXERCISE_TYPES:
        problems.append(f"exercise_type: expected one of {', '.join(EXERCISE_TYPES)}, got {x.exercise_type!r}")
    if not x.title.strip():
        problems.append("title: an exercise needs a title")
    if x.exercise_date > today:
        problems.append(f"exercise_date: {x.exercise_date} is in the future; record an exercise once it took place")
    if x.report_url.strip() and not x.report_url.strip().lower().startswith(LINK_PREFIXES):
        problems.append("report_url: expected an http(s) link or a file path")
    if not x.results:
        problems.append("results: name at least one service in scope")
    problems += listed_services_problems("results", x.results,
                                         ("achieved_recovery_minutes", "achieved_data_loss_minutes"))
    return problems


def record_exercise(db: Database, actor: Actor, exercise: Exercise, *, today: date | None = None) -> str:
    """Record an exercise; each service's result is judged against the version of the service valid on the
    exercise date, and stored with the RTO/RPO used. Returns the new exercise id (EX-00001, ...)."""
    access.require(actor, "record_exercises")
    problems = _problems(exercise, today or clock.today())
    if problems:
        raise ValidationError(problems, f"exercise {exercise.title!r}")
    given = pl.DataFrame(
        [{"service_id": r.service_id.strip(), "achieved_recovery_minutes": r.achieved_recovery_minutes,
          "achieved_data_loss_minutes": r.achieved_data_loss_minutes, "findings": r.findings.strip() or None}
         for r in exercise.results],
        schema={"service_id": pl.String, "achieved_recovery_minutes": pl.Int64,
                "achieved_data_loss_minutes": pl.Int64, "findings": pl.String})

    def work(cur) -> str:
        at = end_of_day(exercise.exercise_date)
        valid = services_sql.versions_at(cur, given.select("service_id", pl.lit(at).alias("at")))
        bad = given.join(valid, on="service_id", how="anti")["service_id"].to_list()
        known = set(services_sql.register(cur, "supplier")["supplier_id"].to_list())
        errors = [f"results.service_id: {s} is not a service of the register on {exercise.exercise_date}"
                  for s in bad]
        errors += [f"supplier_ids: unknown supplier {s!r}" for s in exercise.supplier_ids if s not in known]
        if errors:
            raise ValidationError(errors, f"exercise {exercise.title!r}")
        exercise_id = exercises_sql.new_id(cur)
        results = judge(given.join(valid.select("service_id", pl.col("revision").alias("service_revision"),
                                                "unit_id", "rto_minutes", "rpo_minutes", "holds_data"),
                                   on="service_id")).with_columns(pl.lit(exercise_id).alias("exercise_id"))
        row = {"exercise_id": exercise_id, "exercise_date": exercise.exercise_date,
               "exercise_type": exercise.exercise_type, "title": exercise.title.strip(),
               "scenario": exercise.scenario.strip() or None, "participants": exercise.participants.strip() or None,
               "objectives": exercise.objectives.strip() or None, "objectives_met": exercise.objectives_met,
               "report_url": exercise.report_url.strip() or None, "recorded_at": clock.now(),
               "recorded_by": actor.username}
        suppliers = pl.DataFrame({"exercise_id": [exercise_id] * len(set(exercise.supplier_ids)),
                                  "supplier_id": sorted(set(exercise.supplier_ids))},
                                 schema={"exercise_id": pl.String, "supplier_id": pl.String})
        exercises_sql.insert(cur, pl.DataFrame([row], schema=exercises_sql.EXERCISE_SCHEMA), results, suppliers)
        audit.record(cur, actor, "exercise.record", "exercise", exercise_id,
                     after={**{k: v for k, v in row.items() if k not in ("recorded_at", "recorded_by")},
                            "suppliers": suppliers["supplier_id"].to_list(),
                            "results": results.select(exercises_sql.RESULT_COLS[1:]).to_dicts()})
        return exercise_id

    return db.transaction(work)


def withdraw_exercise(db: Database, actor: Actor, exercise_id: str, *, reason: str) -> None:
    """Take an exercise recorded in error out of scoring and views; it stays in the log and the audit trail."""
    access.require(actor, "record_exercises")
    if not reason.strip():
        raise ValidationError(["reason: say why the exercise is withdrawn"], f"exercise {exercise_id}")

    def work(cur) -> None:
        x = exercises_sql.exercise(cur, exercise_id)
        if x is None:
            raise NotFound(f"unknown exercise {exercise_id!r}")
        if x["withdrawn_at"] is not None:
            raise InvalidState(f"exercise {exercise_id} was already withdrawn on {x['withdrawn_at']:%Y-%m-%d}")
        exercises_sql.withdraw(cur, exercise_id, clock.now(), actor.username, reason.strip())
        audit.record(cur, actor, "exercise.withdraw", "exercise", exercise_id, before={"withdrawn": False},
                     after={"withdrawn": True, "reason": reason.strip()})

    db.transaction(work)


@reused
def exercise_log(db: Database, actor: Actor, filters: Filters | None = None, *, since: date | None = None,
                 until: date | None = None, include_withdrawn: bool = False) -> pl.DataFrame:
    """One row per exercise result of the units the actor may read (a head sees the results of their own
    units only), newest first; see storage/exercises.listing for the columns."""
    where, params = scope_for(actor, filters).where("u")
    with db.read() as cur:
        return exercises_sql.listing(cur, where, params, since, until, include_withdrawn)


def get_exercise(db: Database, actor: Actor, exercise_id: str) -> dict:
    """An exercise with its suppliers and the results the actor may read (NotFound when none)."""
    readable = access.readable_units(actor)
    with db.read() as cur:
        x = exercises_sql.exercise(cur, exercise_id)
        results = exercises_sql.results(cur, exercise_id) if x else pl.DataFrame()
        suppliers = exercises_sql.supplier_ids(cur, exercise_id) if x else []
    if readable is not None and results.height:
        results = results.filter(pl.col("unit_id").is_in(list(readable)))
    if x is None:
        raise NotFound(f"unknown exercise {exercise_id!r}")
    if results.height == 0:
        raise PermissionDenied(f"{actor.username} may not read exercise {exercise_id}: it has no results of "
                               "their units")
    return {**x, "suppliers": suppliers, "results": results.to_dicts()}
