"""gunicorn settings for `gunicorn app:app` (read automatically from this folder).

Besides the request workers, the master starts one outbox sender process
(`python -m handlers.delivery.sender`) and restarts it if it dies; OPTOUT_SENDER=0
leaves it out (a second web host whose outbox another host's sender drains).
"""
import glob
import os
import signal
import subprocess
import sys
import threading
import time

from handlers.settings import DEFAULT_DB, METRICS_DIR_VARIABLE, check_bind, default_metrics_dir, server_value

bind = server_value("OPTOUT_BIND", "127.0.0.1:8000")
workers = server_value("OPTOUT_WORKERS", 2)
# The sync worker, reading each request whole before it takes a worker (handlers/web/server.py):
# slow or stalled clients cannot hold the workers.
worker_class = "handlers.web.server.BufferingSyncWorker"
timeout = 30
graceful_timeout = 20
accesslog = None  # the app logs one structured line per delivery, numbers masked
# gunicorn 23+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl), so a
# second instance on the host (tests, a benchmark, another service) takes it over. Unused here.
control_socket_disable = True

PROJECT = os.path.dirname(os.path.abspath(__file__))


def on_starting(server):
    """Give the workers one fresh folder for their Prometheus counts, so /metrics sums them.

    Set before any worker imports prometheus_client (it picks its storage at import).
    Without PROMETHEUS_MULTIPROC_DIR it is `metrics/` beside the SQLite database, or
    `var/metrics-<address>` with PostgreSQL (counts are per host either way); either way
    the previous run's files are removed (counters restart with the service, as
    Prometheus expects)."""
    check_bind(server.cfg.bind)  # dev mode: loopback only (a ConfigError: gunicorn prints one line, exits 1)
    directory = server_value(METRICS_DIR_VARIABLE, None)
    if not directory:
        database = server_value("OPTOUT_DATABASE_URL", "") or server_value("OPTOUT_DB", DEFAULT_DB)
        directory = default_metrics_dir(database, bind)
        os.environ[METRICS_DIR_VARIABLE] = directory  # for the workers' Settings and prometheus_client
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)


class _Child:
    """A child process started by fork and exec, with the part of Popen's interface the
    supervisor uses. Popen is not used: it waits on a pipe until the child has exec'd, and a
    worker the master forks meanwhile inherits that pipe and keeps it open, so Popen (in
    the supervisor's thread) never returned and a dead sender was never restarted."""

    def __init__(self, argv: list[str], cwd: str):
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: nothing but exec
            try:
                os.chdir(cwd)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.returncode = 0  # the master's SIGCHLD handler (it waits for any pid) reaped it
            return self.returncode
        if pid == 0:
            return None
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("handlers.delivery.sender", timeout)
            time.sleep(0.05)
        return self.returncode  # type: ignore[return-value]

    def _signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


class SenderProcess:
    """The outbox sender as a child of the master, restarted (after 1 s, backing off to 30 s
    while it keeps dying young) whenever it exits until the master stops."""

    def __init__(self, log):
        self.log = log
        self.process: _Child | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="outbox-sender-supervisor", daemon=True)

    def start(self):
        self._thread.start()

    def _supervise(self):
        delay = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = _Child(
                    [sys.executable, "-m", "handlers.delivery.sender", "--parent", str(os.getpid())], PROJECT)
            self.log.info("outbox sender started (pid %s)", self.process.pid)
            while self.process.poll() is None and not self._stopping.wait(0.5):
                pass
            if self._stopping.is_set():
                return
            self.log.warning("outbox sender (pid %s) exited (%s); restarting in %.0f s",
                             self.process.pid, self.process.returncode, delay)
            self._stopping.wait(delay)
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)

    def stop(self, timeout=15.0):
        self._stopping.set()
        with self._lock:
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # finishes its current send first
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


_sender = None


def when_ready(server):
    global _sender
    if _serves_this_service(server) and server_value("OPTOUT_SENDER", True):
        _sender = SenderProcess(server.log)
        _sender.start()


def on_exit(server):
    if _sender is not None:
        _sender.stop()


def worker_exit(server, worker):
    service = _service(worker)
    if service is not None:
        service.chat.close()   # ordinary chat's rows still waiting for their batch
        service.worker.stop()  # a sender thread, if anything started one in this worker
        from handlers.ops import metrics

        metrics.flush()  # the counts of its last second


def child_exit(server, worker):
    if server_value(METRICS_DIR_VARIABLE, None):
        from prometheus_client import multiprocess  # imported late: only after on_starting set the folder

        multiprocess.mark_process_dead(worker.pid)


def _serves_this_service(server):
    """The outbox sender belongs to `app:app`, not to the benchmark's bare or peer apps."""
    uri = server.cfg.wsgi_app or getattr(server.app, "app_uri", None) or ""
    return uri.split(":")[0] == "app"


def _service(worker):
    """The service of this worker's app (None for the benchmark's bare app)."""
    return getattr(getattr(worker, "wsgi", None), "extensions", {}).get("optout")
