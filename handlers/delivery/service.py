"""What one service process holds: settings, the classifier, per-thread database
connections (or handles on one PostgreSQL pool) and the outbox worker. Flask-free, so the CLI, tests and replay
build the same thing the webhook uses."""
from __future__ import annotations

import os
import threading
import time

from handlers.consent.identity import KnownLinks
from handlers.consent.schema import migrate
from handlers.delivery.chat_batch import ChatBatch
from handlers.delivery.pipeline import Context, Result, process_delivery
from handlers.delivery.sender import OutboxWorker, Waker
from handlers.detection.buttons import load_buttons
from handlers.detection.classify import Classifier
from handlers.detection.locales import BUTTONS_FILE, load_locales
from handlers.settings import Settings
from handlers.staff import keyword_store
from handlers.storage.db import Database, Opener, defer_checkpoints
from handlers.whatsapp.parse import parse_delivery

EXTENSION = "optout"  # the Service's key in a Flask app's extensions (see handlers/current.py)


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._local = threading.local()
        self._opener = Opener(settings.database)
        self._connections: list[Database] = []
        self._lock = threading.Lock()
        self.known_links = KnownLinks()
        migrate(self.db)
        self.file_locales = load_locales(settings.locales_dir)
        self.buttons = load_buttons(os.path.join(settings.locales_dir, BUTTONS_FILE))
        self._poll_seconds = settings.config_poll_seconds
        self._classifier_lock = threading.Lock()
        self._config_version = -1
        self._checked_at = float("-inf")
        self._classifier: Classifier | None = None
        self._locales: dict = {}
        self.refresh(force=True)
        self.chat = ChatBatch(lambda: self.db, settings.chat_batch_seconds)   # ordinary chat's rows
        self.worker = OutboxWorker(settings)   # a thread only when started (tests, tools)
        self.waker = Waker(settings.database)   # the host's sender process (gunicorn.conf.py)

    @property
    def classifier(self) -> Classifier:
        """The classifier of the shipped locales plus staff edits, rebuilt when an edit
        (from any worker, the CLI or the API) bumped the database's config version."""
        self.refresh()
        if self._classifier is None:  # refresh(force=True) in __init__ built one
            raise RuntimeError("the service has no classifier")
        return self._classifier

    @property
    def locales(self) -> dict:
        """The merged locales (files + staff edits) the classifier was built from."""
        self.refresh()
        return self._locales

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._poll_seconds:
            return
        with self._classifier_lock:
            version = keyword_store.config_version(self.db)
            self._checked_at = time.monotonic()
            if version == self._config_version and not force:
                return
            locales = keyword_store.merged_locales(self.db, self.file_locales)
            self._classifier = self.build_classifier(locales)
            self._locales, self._config_version = locales, version

    def build_classifier(self, locales: dict) -> Classifier:
        return Classifier.from_locales(locales, default_language=self.settings.default_language, buttons=self.buttons)

    @property
    def db(self) -> Database:
        """This thread's connection (SQLite connections are not shared between threads;
        PostgreSQL handles share the process's pool)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._opener.connect()
            defer_checkpoints(db)  # the sender process checkpoints (SQLite)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def context(self, dry_run: bool = False) -> Context:
        return Context(self.db, self.classifier, self.settings, dry_run=dry_run, known_links=self.known_links,
                       chat=self.chat)

    def handle(self, payload: object, dry_run: bool = False) -> Result:
        result = process_delivery(self.context(dry_run), parse_delivery(payload))
        if result.replies_queued and not dry_run:
            self.worker.wake()
            self.waker.wake()
        return result

    def close(self) -> None:
        self.chat.close()   # what waits is written first
        self.worker.stop()
        self.waker.close()
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._opener.close()
        self._local = threading.local()
