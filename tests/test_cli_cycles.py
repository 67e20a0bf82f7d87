"""`itscm campaign create/open/close` and `itscm questionnaire register/diff/list`: output, errors, exit codes."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from assessment import campaigns, carry, catalog, clock, workflow
from assessment.cli import main
from assessment.model import Answer
from assessment.questionnaire import DEFAULT_QUESTIONNAIRE
from assessment.storage.db import open_database

from .conftest import ADMIN, add_org

V11 = str(DEFAULT_QUESTIONNAIRE.parent / "itscm-core-1.1.yaml")
V10 = str(DEFAULT_QUESTIONNAIRE)


@pytest.fixture
def path(tmp_path) -> str:
    p = str(tmp_path / "cli.duckdb")
    assert main(["--db", p, "init", "--questionnaire", str(DEFAULT_QUESTIONNAIRE)]) == 0  # 1.0.0 only
    db = open_database(p)
    add_org(db, [("U1", "D1", 1), ("U2", "D1", 3), ("U3", "D2", 2)])
    db.close()
    return p


def run(path, *args) -> int:
    return main(["--db", path, *args])


def cycles(path) -> dict[str, int]:
    db = open_database(path)
    try:
        df = campaigns.list_campaigns(db, ADMIN)
        return dict(zip(df["campaign_id"].to_list(), df["expected"].to_list()))
    finally:
        db.close()


def test_create_a_first_cycle_for_one_division_and_open_close_it(path, capsys):
    assert run(path, "campaign", "create", "2027-H1", "--division", "D1", "--opens", "2027-01-10") == 0
    out = capsys.readouterr().out
    assert "campaign 2027-H1 created (planned): 2 unit(s), questionnaire itscm-core@1.0.0" in out
    assert "opens 2027-01-10, due 2027-02-17, closes 2027-03-01" in out  # 38 and 50 days later
    assert cycles(path) == {"2027-H1": 2}
    assert run(path, "campaign", "open", "2027-H1") == 0
    assert run(path, "campaign", "open", "2027-H1") == 1
    assert "it cannot become open" in capsys.readouterr().err
    assert run(path, "campaign", "close", "2027-H1") == 0
    assert run(path, "campaign", "close", "nope") == 1
    assert "unknown campaign 'nope'" in capsys.readouterr().err


def test_by_tier_and_by_list_with_a_chosen_version(path, capsys):
    assert run(path, "questionnaire", "register", V11) == 0
    assert run(path, "campaign", "create", "T", "--tier", "1", "--tier", "2", "--questionnaire",
               "itscm-core@1.0.0", "--opens", "2027-01-10", "--open") == 0
    assert "created (open): 2 unit(s), questionnaire itscm-core@1.0.0" in capsys.readouterr().out
    assert run(path, "campaign", "create", "L", "--unit", "U3", "--opens", "2027-01-10") == 0
    assert "1 unit(s), questionnaire itscm-core@1.1.0" in capsys.readouterr().out  # the newest registered


def test_every_problem_of_a_bad_create_at_once_and_nothing_written(path, capsys):
    assert run(path, "campaign", "create", "X", "--division", "D9", "--unit", "U7", "--opens", "2027-01-10") == 1
    err = capsys.readouterr().err
    assert "unknown division 'D9'" in err and "unknown unit 'U7'" in err
    assert run(path, "campaign", "create", "bad id!", "--opens", "2027-02-10", "--due", "2027-01-10") == 1
    err = capsys.readouterr().err
    assert "due_on: 2027-01-10 is before opens_on 2027-02-10" in err and "campaign_id: use letters" in err
    assert run(path, "campaign", "create", "X", "--questionnaire", "itscm-core@9.9") == 1
    assert "questionnaire itscm-core version 9.9 is not stored" in capsys.readouterr().err
    assert run(path, "campaign", "create", "X", "--questionnaire", "itscm-core") == 1
    assert cycles(path) == {}
    with pytest.raises(SystemExit) as usage:
        run(path, "campaign", "create", "X", "--opens", "not-a-date")
    assert usage.value.code == 2
    assert cycles(path) == {}


def test_carry_forward_from_the_command_line(path, capsys):
    db = open_database(path)
    q = catalog.questionnaire(db, "itscm-core", "1.0.0")
    campaigns.create(db, ADMIN, "C1", "C1", q, date(2026, 6, 1), date(2026, 6, 30), date(2026, 7, 15),
                     status="open")
    with clock.frozen(datetime(2026, 6, 10, 9)):
        workflow.save_answers(db, ADMIN, "C1", "U1", [Answer(x.id, 2) for x in q.questions])
        workflow.submit(db, ADMIN, "C1", "U1")
    db.close()
    assert run(path, "campaign", "create", "C2", "--previous", "C1", "--carry-forward", "--opens", "2027-01-10") == 0
    assert "carried over 43 answer(s) of 1 unit(s) to confirm or change" in capsys.readouterr().out
    db = open_database(path)
    assert carry.carried(db, ADMIN, "C2", "U1").height == 43
    db.close()


def test_register_validates_shows_the_diff_and_stores(path, capsys, tmp_path):
    assert run(path, "questionnaire", "register", V11, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "itscm-core@1.0.0 -> itscm-core@1.1.0: 4 questions added, 0 questions removed, 43 questions changed, " \
           "3 policy changes" in out and "dry run: nothing stored" in out
    assert run(path, "questionnaire", "list") == 0
    assert "1.1.0" not in capsys.readouterr().out
    assert run(path, "questionnaire", "register", V11) == 0
    assert "questionnaire itscm-core@1.1.0 registered" in capsys.readouterr().out
    assert run(path, "questionnaire", "register", V11) == 0
    assert "already registered" in capsys.readouterr().out
    changed = tmp_path / "changed.yaml"
    changed.write_text(open(V11, encoding="utf-8").read().replace("weight: 1.5", "weight: 1.25", 1))
    assert run(path, "questionnaire", "register", str(changed)) == 1
    assert "already stored with different content" in capsys.readouterr().err


def test_register_lists_every_problem_and_exits_2(path, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(V11, encoding="utf-8").read().replace("weight: 1.5", "weight: -1", 1)
                   .replace('version: "1.1.0"', 'version: ""').replace("standards_catalogue: standards.yaml",
                                                                        "standards_catalogue: ../../etc/passwd"))
    assert run(path, "questionnaire", "register", str(bad)) == 2
    err = capsys.readouterr().err
    assert "standards_catalogue" in err
    bad.write_text(open(V11, encoding="utf-8").read().replace("weight: 1.5", "weight: -1", 1)
                   .replace('version: "1.1.0"', 'version: ""'))
    assert run(path, "questionnaire", "register", str(bad)) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "weight" in err and "version" in err
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    assert run(path, "questionnaire", "register", str(big)) == 2
    assert "larger than 1024 KB" in capsys.readouterr().err


def test_diff_of_files_and_stored_versions(path, capsys):
    assert run(path, "questionnaire", "diff", V10, V11) == 0
    out = capsys.readouterr().out
    assert "itscm-core@1.0.0 -> itscm-core@1.1.0: 4 questions added" in out and "| GOV-08" in out
    assert run(path, "questionnaire", "diff", "itscm-core@1.0.0", V10) == 0
    assert "0 questions added, 0 questions removed, 0 questions changed, 0 policy changes" in capsys.readouterr().out
    assert run(path, "questionnaire", "diff", "itscm-core@2.0", V10) == 1
    assert run(path, "questionnaire", "diff", "missing.yaml", V10) == 2
