"""A real OpenID Connect provider on loopback (oidc-provider-mock) and the app served against it.

The provider runs in a thread of the test process; the app runs as `streamlit run app.py` in a subprocess with
a secrets file outside the repository (`--secrets.files`), so the repository's .streamlit/ is never written.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Provider:
    url: str

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """Dynamic client registration (RFC 7591): the provider then accepts only this client and redirect URI."""
        body = json.dumps({"redirect_uris": [redirect_uri]}).encode()
        req = urllib.request.Request(f"{self.url}/oauth2/clients", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            client = json.load(r)
        return client["client_id"], client["client_secret"]


@contextmanager
def provider(users: dict[str, dict]) -> Iterator[Provider]:
    """An OIDC provider on a free 127.0.0.1 port; `users` maps each subject to the claims of its ID token."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    flask_app = app(require_client_registration=True, require_nonce=True,
                    user_claims=[User(sub=sub, claims=claims) for sub, claims in users.items()])
    server = werkzeug.serving.make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_secrets(path: Path, *, app_url: str, prov: Provider) -> None:
    """The [auth] section the README documents, pointing at `prov`, with a client registered there."""
    redirect_uri = f"{app_url}/oauth2callback"
    client_id, client_secret = prov.register_client(redirect_uri)
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{redirect_uri}"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{client_id}"\n'
        f'client_secret = "{client_secret}"\n'
        f'server_metadata_url = "{prov.url}/.well-known/openid-configuration"\n',
        encoding="utf-8")


class AppServer:
    """`streamlit run app.py` on a fixed port; can be stopped and started again on the same port and data."""

    def __init__(self, *, port: int, data: Path, secrets_file: Path, env: dict[str, str]):
        self.port, self.data, self.secrets_file = port, data, secrets_file
        self.url = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if k != "ITSCM_DATABASE_URL"} | env
        self.env["ITSCM_DATA_DIR"] = str(data)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        """Start the app unless it is running, and wait until it answers."""
        if self.proc is not None:
            return
        self.starts += 1
        log = self.data / f"server-{self.starts}.log"
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", "--secrets.files", str(self.secrets_file)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """End the app process (it releases the DuckDB file, so the test can open it)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.data.glob("server-*.log")))
