"""A throwaway PostgreSQL server for tests and benchmarks: Debian's server binaries,
an unprivileged cluster in a temporary folder, listening on one loopback port.

PostgreSQL refuses to run as root; run as root (CI), the cluster belongs to the
`postgres` system user that Debian's package creates, and initdb and the server run
as that user. The folder is removed when the server stops.

    python -m handlers.testing.postgres [--port 54329] [--durable]

runs one in the foreground and prints its URL (for `python -m bench.run --database`),
until interrupted.
"""
from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from handlers.testing.gunicorn import free_port

DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
SUPERUSER = "optout"


class Unavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (apt-get install postgresql)."""


def find_binaries() -> Path:
    """The folder holding initdb and postgres: Debian's newest version, or the PATH's."""
    found = sorted(glob.glob(DEBIAN_BINARIES + "/initdb"), key=lambda path: int(Path(path).parent.parent.name)
                   if Path(path).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise Unavailable("PostgreSQL server binaries not found (initdb): apt-get install postgresql")


class PostgresServer:
    """`durable=False` (tests): fsync off, which only matters if the machine itself
    crashes; the benchmark keeps PostgreSQL's defaults (fsync and synchronous commit on)."""

    def __init__(self, port: int | None = None, durable: bool = False, settings: dict[str, str] | None = None):
        self.port = port or free_port()
        self.durable = durable
        self.settings = settings or {}
        self.binaries = find_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="optout-pg-"))
        self.data = self.folder / "data"
        self.log_path = self.folder / "server.log"
        self.process: subprocess.Popen | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and no `postgres` user to run the server as "
                                  "(Debian's postgresql package creates it)") from None
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run_as_owner(self) -> dict:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> PostgresServer:
        """initdb (the first time), then the server, and wait until it accepts connections."""
        if not self.data.exists():
            subprocess.run(
                [str(self.binaries / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-instructions"],
                check=True, capture_output=True, cwd=self.folder, **self._run_as_owner())
        options = {"listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": str(self.folder),
                   "max_connections": "200", "logging_collector": "off"}
        if not self.durable:
            options.update({"fsync": "off", "full_page_writes": "off"})
        options.update(self.settings)
        command = [str(self.binaries / "postgres"), "-D", str(self.data)]
        for name, value in options.items():
            command += ["-c", f"{name}={value}"]
        log = open(self.log_path, "ab")
        if self._user is not None:
            os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=self.folder, start_new_session=True,
                                            **self._run_as_owner())
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {self.log_tail()}")
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not accept connections in {timeout}s: {self.log_tail()}") from None
                time.sleep(0.1)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def fresh_database_url(self, prefix: str = "t") -> str:
        """A new empty schema, as a URL whose connections use it (search_path): a clean
        database for one test, much cheaper than CREATE DATABASE."""
        schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options=-csearch_path%3D{schema}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def halt(self) -> None:
        """Stop the server (fast shutdown: open connections are cut), keeping its data."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a throwaway PostgreSQL server until interrupted")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--durable", action="store_true", help="keep fsync on (as for a benchmark)")
    args = parser.parse_args()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(stop_signal, lambda *_: sys.exit(0))
    with PostgresServer(args.port, durable=args.durable) as server:
        print(server.url, flush=True)
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
