"""gunicorn settings for `gunicorn app:app` (read automatically from this folder)."""
import glob
import os

from handlers.settings import DEFAULT_DB, METRICS_DIR_VARIABLE, check_bind, default_metrics_dir, server_value

bind = server_value("OPTOUT_BIND", "127.0.0.1:8000")
workers = server_value("OPTOUT_WORKERS", 2)
timeout = 30
graceful_timeout = 20
accesslog = None  # the app logs one structured line per delivery, numbers masked


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


def post_worker_init(worker):
    """Each worker runs an outbox sender thread; they share the queue through the database."""
    service = _service(worker)
    if service is not None:
        service.worker.start()


def worker_exit(server, worker):
    service = _service(worker)
    if service is not None:
        service.worker.stop()
        from handlers.ops import metrics

        metrics.flush()  # the counts of its last second


def child_exit(server, worker):
    if server_value(METRICS_DIR_VARIABLE, None):
        from prometheus_client import multiprocess  # imported late: only after on_starting set the folder

        multiprocess.mark_process_dead(worker.pid)


def _service(worker):
    """The service of this worker's app (None for the benchmark's bare app)."""
    return getattr(getattr(worker, "wsgi", None), "extensions", {}).get("optout")
