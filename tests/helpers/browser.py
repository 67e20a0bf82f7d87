"""Helpers for the real-browser tests: serve the app with `streamlit run` on a free port over a data folder,
and drive it with Playwright through Debian's /usr/bin/chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SHOTS = ROOT / "screenshots"
WIDTH = 1400


def require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[test]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(data: Path, demo: bool = True) -> Iterator[str]:
    """The app served by `streamlit run` in a subprocess over `data`; yields its base URL, stops it after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ITSCM_DATABASE_URL"}
    env.update(ITSCM_DATA_DIR=str(data), ITSCM_DEMO="1" if demo else "0")
    log = open(data / "server.log", "a")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Browser:
    """Small helpers over a Playwright page showing the Streamlit app."""

    def __init__(self, page, url: str, data: Path):
        self.page, self.url, self.data = page, url, data

    def settle(self, timeout: float = 30) -> None:
        """Wait until the script run triggered by the last interaction has finished."""
        self.page.wait_for_timeout(250)
        end = time.monotonic() + timeout
        while self.page.locator('[data-testid="stStatusWidget"]').count() and time.monotonic() < end:
            self.page.wait_for_timeout(100)
        self.page.wait_for_timeout(250)

    def password(self, username: str) -> str:
        path = self.data / "demo-credentials.txt"
        for _ in range(100):
            if path.exists():
                for line in path.read_text().splitlines():
                    parts = line.split("\t")
                    if parts[0] == username:
                        return parts[2]
            time.sleep(0.1)
        raise AssertionError(f"no password for {username} in {path}")

    def sign_in(self, username: str) -> None:
        p = self.page
        p.get_by_label("User name").fill(username)
        p.get_by_label("Password", exact=True).fill(self.password(username))
        p.get_by_role("button", name="Sign in").click()
        p.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
        self.settle()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("button", name="Sign in").wait_for(timeout=90_000)

    def go(self, title: str) -> None:
        self.page.get_by_role("link", name=title).first.click()
        self.page.get_by_role("heading", name=title, level=1).wait_for(timeout=90_000)
        self.settle()

    def metric(self, label: str) -> str:
        m = self.page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        return m.locator('[data-testid="stMetricValue"]').inner_text().strip()

    def shot(self, path: Path) -> None:
        """A full-page screenshot: Streamlit scrolls inside its main container, so grow the viewport first."""
        p = self.page
        script = "() => (document.querySelector('[data-testid=stMain]') || document.body).scrollHeight"
        height = p.evaluate(script)
        p.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height) + 40, 9000))})
        self.settle()
        path.parent.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(path), full_page=True)
        p.set_viewport_size({"width": WIDTH, "height": 1000})
