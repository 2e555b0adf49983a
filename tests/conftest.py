"""Fixtures. The database: SQLite in a temporary folder by default; with
`pytest --database postgresql`, every test that uses the `database` fixture (through
`settings`, `service`, `post`, `read_db`...) gets a fresh schema on a throwaway
PostgreSQL server started for the session (handlers/testing/postgres.py), and tests
marked `sqlite_only` (the SQLite file, its pragmas and lock file) are skipped. Tests
that need PostgreSQL whatever the option (`postgres_server`) are skipped where no
server binaries are installed, and fail under CI, which installs them."""
import os

import pytest

from app import create_app
from handlers.settings import Settings
from handlers.storage.db import connect
from handlers.testing import payloads
from handlers.testing.cloud_api_standin import CloudApiStandIn
from handlers.testing.postgres import PostgresServer, Unavailable
from tests.admin_client import admin, staff_account  # noqa: F401 (fixtures of the admin tests)
from tests.browser_support import chromium, live  # noqa: F401 (fixtures of the browser tests)
from tests.frame_checks import classifier  # noqa: F401 (the request-frame tables' fixture)
from tests.login_helpers import frozen_clock  # noqa: F401 (a fixture of the login and security tests)

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ADMIN_TOKEN = "test-admin-token"


def pytest_addoption(parser):
    parser.addoption("--database", choices=("sqlite", "postgresql"), default="sqlite",
                     help="the database behind the service in tests (postgresql: a throwaway local server)")


def pytest_collection_modifyitems(config, items):
    """With --database postgresql, only the tests that use the service's database run
    (the others would run exactly as on SQLite), less those about the SQLite file."""
    if config.getoption("--database") != "postgresql":
        return
    skip = pytest.mark.skip(reason="about the SQLite file itself (pragmas, lock file); see tests/test_postgres.py")
    kept, left = [], []
    for item in items:
        (kept if "database" in getattr(item, "fixturenames", ()) else left).append(item)
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def on_postgres(config) -> bool:
    return config.getoption("--database") == "postgresql"


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer()
    except Unavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error}; .ci/run installs Debian's postgresql package")
        pytest.skip(f"{error}; CI runs these tests")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty schema on the session's server."""
    return postgres_server.fresh_database_url()


@pytest.fixture
def database(request, tmp_path):
    """What the service under test opens: a SQLite file, or a PostgreSQL URL (--database postgresql)."""
    if on_postgres(request.config):
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "optout.db")


@pytest.fixture
def cloud_api():
    with CloudApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def db_path(request, tmp_path):
    """The SQLite file itself, for tests about SQLite (skipped with --database postgresql)."""
    if on_postgres(request.config):
        pytest.skip("reads the SQLite file directly")
    return str(tmp_path / "optout.db")


@pytest.fixture
def settings(database, tmp_path, cloud_api):
    postgres = database.startswith("postgresql://")
    return Settings(
        app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, admin_token=ADMIN_TOKEN,
        access_token="test-access-token", api_url=cloud_api.url,
        db_path=str(tmp_path / "optout.db") if postgres else database, database_url=database if postgres else "",
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
def read_db(database):
    """A separate connection, as another process would see the database."""
    connections = []

    def query(sql, params=()):
        db = connect(database)
        connections.append(db)
        return list(db.query(sql, list(params)))

    yield query
    for db in connections:
        db.close()


@pytest.fixture
def drain(service):
    """Run the outbox sender until nothing is due (deterministic, in the test's thread)."""
    def drain(limit: int = 100) -> int:
        return service.worker.send_due(service.db, limit=limit)
    return drain
