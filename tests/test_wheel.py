"""The built wheel works outside the checkout: package data, the console script, the data-folder default."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # builds and installs a wheel: about 20 s alone
# What a build does not need; build/ and *.egg-info would be a previous in-tree build.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "data", "build", "dist", "screenshots", "benchmarks",
                                     "tests", "docs", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the sources with this environment's setuptools."""
    src = tmp_path_factory.mktemp("src") / "itscm"
    shutil.copytree(ROOT, src, symlinks=True, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(out), str(src)], check=True, capture_output=True, text=True)
    (built,) = out.glob("itscm_assessment-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed; the dependencies come from this environment, read-only.

    A .pth line appends this environment's site-packages after the venv's own, so nothing is downloaded and the
    project's editable install here is never picked up (its own .pth files are not processed from there).
    """
    env = tmp_path_factory.mktemp("venv") / "fresh"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "itscm-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env


def run(env: Path, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ITSCM_", "PYTHON"))}
    return subprocess.run([str(env / "bin" / args[0]), *args[1:]], cwd=cwd, env={**clean, **extra},
                          capture_output=True, text=True, timeout=120)


def test_wheel_carries_every_module_and_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "assessment").rglob("*.py")
               if "__pycache__" not in p.parts}
    shipped = {f"assessment/questionnaires/{p.name}" for p in (ROOT / "questionnaires").glob("*.yaml")}
    assert len(shipped) >= 2  # the questionnaire and the standards catalogue, and whatever is added there later
    expected = modules | shipped | {"assessment/questionnaires/FORMAT.md", "assessment/resources/common-passwords.txt"}
    assert expected - names == set()


def test_installed_wheel_runs_outside_the_checkout(installed, tmp_path):
    where = run(installed, tmp_path, "python", "-c",
                "import assessment, assessment.questionnaire as q; print(assessment.__file__); "
                "print(q.DEFAULT_QUESTIONNAIRE)")
    assert where.returncode == 0, where.stderr
    module, questionnaire = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(questionnaire).is_relative_to(installed)
    assert not Path(module).is_relative_to(ROOT)

    helped = run(installed, tmp_path, "itscm", "--help")
    assert helped.returncode == 0 and "questionnaire" in helped.stdout and "audit" in helped.stdout, helped.stderr

    valid = run(installed, tmp_path, "itscm", "questionnaire", "validate", questionnaire)
    assert valid.returncode == 0, valid.stderr
    assert "valid — itscm-core@" in valid.stdout

    db = str(tmp_path / "x.duckdb")
    init = run(installed, tmp_path, "itscm", "--db", db, "init")
    assert init.returncode == 0, init.stderr
    assert "questionnaire itscm-core@" in init.stdout and "stored" in init.stdout  # found the shipped catalogue too

    common = run(installed, tmp_path, "itscm", "--db", db, "create-admin", "alice", ITSCM_ADMIN_PASSWORD="password1")
    assert common.returncode == 1 and "commonly used passwords" in common.stderr  # the list is package data
    made = run(installed, tmp_path, "itscm", "--db", db, "create-admin", "alice",
               ITSCM_ADMIN_PASSWORD="a long enough passphrase")
    assert made.returncode == 0, made.stderr


def test_installed_wheel_keeps_its_data_in_the_current_directory(installed, tmp_path):
    missing = run(installed, tmp_path, "itscm", "init")
    assert missing.returncode == 1 and f"{tmp_path / 'data'} does not exist" in missing.stderr
    (tmp_path / "data").mkdir()
    made = run(installed, tmp_path, "itscm", "init")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "data" / "itscm.duckdb").is_file()
