"""What one service process holds: settings, the classifier, per-thread database
connections and the outbox worker. Flask-free, so the CLI, tests and replay
build the same thing the webhook uses."""
from __future__ import annotations

import threading

import sqlite_utils

from handlers.classify import Classifier
from handlers.config import Settings
from handlers.db import connect, migrate
from handlers.locales import load_locales
from handlers.pipeline import Context, Result, process_delivery
from handlers.parse import parse_delivery
from handlers.sender import OutboxWorker


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._local = threading.local()
        self._connections: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        migrate(self.db)
        self.classifier = Classifier.from_locales(
            load_locales(settings.locales_dir), default_language=settings.default_language
        )
        self.worker = OutboxWorker(settings)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (SQLite connections are not shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.settings.db_path)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def context(self, dry_run: bool = False) -> Context:
        return Context(self.db, self.classifier, self.settings, dry_run=dry_run)

    def handle(self, payload: object, dry_run: bool = False) -> Result:
        result = process_delivery(self.context(dry_run), parse_delivery(payload))
        if result.replies_queued and not dry_run:
            self.worker.wake()
        return result

    def close(self) -> None:
        self.worker.stop()
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
