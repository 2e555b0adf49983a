"""Start the real service under gunicorn (as the README does) for end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests import payloads

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornService:
    def __init__(self, db_path: str, api_url: str, app_secret: str = "e2e-secret",
                 admin_token: str = "e2e-admin", workers: int = 2, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_secret, self.admin_token = app_secret, admin_token
        self.env = {
            **os.environ,
            "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_VERIFY_TOKEN": "e2e-verify",
            "WHATSAPP_ACCESS_TOKEN": "e2e-access", "WHATSAPP_API_URL": api_url,
            "ADMIN_TOKEN": admin_token, "OPTOUT_DB": db_path,
            "OPTOUT_BIND": f"127.0.0.1:{self.port}", "OPTOUT_WORKERS": str(workers),
            **(extra_env or {}),
        }
        self.env.pop("OPTOUT_DEV_MODE", None)
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    def start(self, timeout: float = 20.0) -> "GunicornService":
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "app:app"], cwd=PROJECT, env=self.env,
            # A file, not a pipe: nobody reads the pipe while the test runs, and a full
            # pipe would stall the workers' log writes.
            stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self._log.read().decode(errors='replace')[-2000:]}")
            try:
                self.request("GET", "/webhook")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in time")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post_delivery(self, payload: dict):
        body = payloads.encode(payload)
        return self.request("POST", "/webhook", body, payloads.signed_headers(body, self.app_secret))

    def api(self, method: str, path: str, body: bytes | None = None):
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        return self.request(method, path, body, headers)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
