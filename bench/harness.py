"""Shared by the bench scripts: run gunicorn (the service or the bare app) as the README does,
kill it the hard way, and read its processes' memory from /proc."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py <app>` in its own process group, logging to a file
    (a pipe nobody reads would fill up and stall the workers)."""

    def __init__(self, app: str, env: dict, log_path: str, port: int | None = None, workers: int | None = None):
        self.app, self.log_path = app, log_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "OPTOUT_BIND": f"127.0.0.1:{self.port}"}
        if workers:
            self.env["OPTOUT_WORKERS"] = str(workers)
        self.env.pop("OPTOUT_DEV_MODE", None)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0, probe: str = "/healthz") -> "Gunicorn":
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", str(PROJECT / "gunicorn.conf.py"), self.app], cwd=PROJECT, env=self.env,
                stdout=log, stderr=log, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + probe, timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not answer in {timeout}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        if not self.process:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()
