import sqlite3

import pytest

from app import create_app
from handlers.settings import Settings
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from tests.admin_client import admin, staff_account  # noqa: F401 (fixtures of the admin tests)
from tests.browser_support import chromium, live  # noqa: F401 (fixtures of the browser tests)
from tests.login_helpers import frozen_clock  # noqa: F401 (a fixture of the login and security tests)

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ADMIN_TOKEN = "test-admin-token"


@pytest.fixture
def cloud_api():
    with CloudApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "optout.db")


@pytest.fixture
def settings(db_path, cloud_api):
    return Settings(
        app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, admin_token=ADMIN_TOKEN,
        access_token="test-access-token", api_url=cloud_api.url, db_path=db_path,
        outbox_poll_seconds=0.05, send_timeout_seconds=2.0,
    )


@pytest.fixture
def app(settings):
    application = create_app({"settings": settings, "TESTING": True})
    yield application
    application.extensions["optout"].close()


@pytest.fixture
def service(app):
    return app.extensions["optout"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def post(client):
    """POST a delivery the way Meta does: compact, \\u-escaped, signed over the raw bytes."""
    def post(payload: dict, secret: str = APP_SECRET, body: bytes | None = None, headers: dict | None = None):
        raw = payloads.encode(payload) if body is None else body
        sent_headers = payloads.signed_headers(raw, secret)
        sent_headers.update(headers or {})
        return client.post("/webhook", data=raw, headers=sent_headers)
    return post


@pytest.fixture
def api(client):
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    class Api:
        def get(self, path, **kwargs):
            return client.get(path, headers=auth, **kwargs)

        def post(self, path, **kwargs):
            return client.post(path, headers=auth, **kwargs)

    return Api()


@pytest.fixture
def read_db(db_path):
    """A separate connection, as another process would see the file."""
    connections = []

    def query(sql, params=()):
        conn = sqlite3.connect(db_path)
        conn.row_factory = sqlite3.Row
        connections.append(conn)
        return [dict(row) for row in conn.execute(sql, params)]

    yield query
    for conn in connections:
        conn.close()


@pytest.fixture
def drain(service):
    """Run the outbox sender until nothing is due (deterministic, in the test's thread)."""
    def drain(limit: int = 100) -> int:
        return service.worker.send_due(service.db, limit=limit)
    return drain
