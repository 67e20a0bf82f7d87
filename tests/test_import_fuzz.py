"""Fuzzing the Excel import: random bytes and mutated workbooks give clean, named problems, never a crash
or a partial write."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessment.excel import importer as excel_import
from assessment.excel import template as excel_template
from assessment.model import Answer

from .helpers.excel import ADMIN, TODAY, fingerprint, save


@pytest.fixture
def seeded(org):
    save(org, "U1", [Answer("GOV-01", 2, evidence="policy", evidence_date=date(2026, 1, 1))])
    return org


def _template(db) -> bytes:
    buf = io.BytesIO()
    excel_template.unit_template(db, ADMIN, "C1", "U1", buf, today=TODAY)
    return buf.getvalue()


def _commit_is_clean(db, data: bytes) -> None:
    before = fingerprint(db)
    result = excel_import.commit(db, ADMIN, data, "fuzz.xlsx", today=TODAY)
    if not result.committed:
        assert result.problems and all(str(p).strip() for p in result.problems)
        assert fingerprint(db) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_random_bytes(seeded, data):
    _commit_is_clean(seeded, data)


def _mutations(data: bytes, rng: random.Random, n: int):
    """Flip bytes in the raw file, and (more interesting) in the XML inside the zip."""
    for _ in range(n):
        raw = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        yield bytes(raw)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(i, z.read(i.filename)) for i in z.infolist()]
    for _ in range(n):
        out = io.BytesIO()
        victim = rng.randrange(len(members))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for k, (info, body) in enumerate(members):
                if k == victim and body:
                    body = bytearray(body)
                    for _ in range(rng.randint(1, 6)):
                        body[rng.randrange(len(body))] = rng.choice(b"<>/=\"'&0123456789abcNA- ")
                    body = bytes(body)
                z.writestr(info.filename, body)
        yield out.getvalue()


def test_mutated_workbooks(seeded):
    data = _template(seeded)
    rng = random.Random(20261127)
    for mutated in _mutations(data, rng, 25):
        _commit_is_clean(seeded, mutated)
