"""Run the real service (or the benchmark's bare app) under gunicorn, as the README does.

Shared by the end-to-end tests and the bench scripts: start it in its own process
group on a free loopback port, talk to it, kill its workers or all of it the hard
way, and read its memory from /proc.
"""
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

from handlers.testing import payloads

PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py <app>` in its own process group, logging to a file
    (a pipe nobody reads would fill up and stall the workers)."""

    def __init__(self, app: str, env: dict, log_path: str | None = None, port: int | None = None,
                 workers: int | None = None):
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "OPTOUT_BIND": f"127.0.0.1:{self.port}"}
        if workers:
            self.env["OPTOUT_WORKERS"] = str(workers)
        self.env.pop("OPTOUT_DEV_MODE", None)
        self._log_file = None
        if not log_path:
            self._log_file = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log")
            log_path = self._log_file.name
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0, probe: str = "/healthz") -> Gunicorn:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", str(PROJECT / "gunicorn.conf.py"), self.app], cwd=PROJECT, env=self.env,
                stdout=log, stderr=log, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + probe, timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer in {timeout}s: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        try:
            return Path(self.log_path).read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def worker_pids(self) -> list[int]:
        """The master's children: its workers and the outbox sender (started from a thread
        of the master, so it is listed under that thread's task)."""
        if not self.process:
            return []
        pids: list[int] = []
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            try:
                pids.extend(int(pid) for pid in children.read_text().split())
            except OSError:
                pass
        return pids

    def kill_workers(self) -> list[int]:
        """SIGKILL every worker (the master forks new ones)."""
        pids = self.worker_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def kill_all(self) -> None:
        """SIGKILL the master and its workers at once, as a crash or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def rss_bytes(self) -> int:
        """Resident memory of the master and its workers, summed."""
        total = 0
        for pid in ([self.process.pid] if self.process else []) + self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def database_env(database: str, workdir: str | None = None) -> dict[str, str]:
    """The environment that points a service at `database` (a SQLite file or a PostgreSQL
    URL). With PostgreSQL, each instance gets its own Prometheus folder (in `workdir`, or
    a new temporary one), as each host has its own."""
    if not database.startswith(("postgresql://", "postgres://")):
        return {"OPTOUT_DB": database}
    metrics = tempfile.mkdtemp(prefix="metrics-", dir=workdir)
    return {"OPTOUT_DATABASE_URL": database, "PROMETHEUS_MULTIPROC_DIR": metrics}


class GunicornService(Gunicorn):
    """The service itself (`app:app`) with its own secrets, database and Cloud API URL."""

    def __init__(self, database: str, api_url: str, app_secret: str = "e2e-secret",
                 admin_token: str = "e2e-admin", workers: int = 2, extra_env: dict | None = None,
                 log_path: str | None = None):
        self.app_secret, self.admin_token = app_secret, admin_token
        super().__init__("app:app", {
            "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_VERIFY_TOKEN": "e2e-verify",
            "WHATSAPP_ACCESS_TOKEN": "e2e-access", "WHATSAPP_API_URL": api_url,
            "ADMIN_TOKEN": admin_token, **database_env(database),
            **(extra_env or {}),
        }, log_path=log_path, workers=workers)

    def post_delivery(self, payload: dict) -> tuple[int, bytes]:
        body = payloads.encode(payload)
        return self.request("POST", "/webhook", body, payloads.signed_headers(body, self.app_secret))

    def api(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        return self.request(method, path, body, headers)
