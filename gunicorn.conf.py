"""gunicorn settings for `gunicorn app:app` (read automatically from this folder)."""
import os

bind = os.environ.get("OPTOUT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OPTOUT_WORKERS", "2"))
timeout = 30
graceful_timeout = 20
accesslog = None  # the app logs one structured line per delivery, numbers masked


def post_worker_init(worker):
    """Each worker runs an outbox sender thread; they share the queue through SQLite."""
    worker.wsgi.extensions["optout"].worker.start()


def worker_exit(server, worker):
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("optout")
    if service is not None:
        service.worker.stop()
