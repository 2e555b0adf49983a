"""Helpers of the login, session and security tests: log in from an address, carry a
cookie to another client, and a clock the test moves by hand (no sleeping)."""
from datetime import timedelta

import pytest

from handlers.storage import clock
from tests.admin_client import STAFF_PASSWORD, csrf_token


def login(client, name="ana", password=STAFF_PASSWORD, ip="10.0.0.1", headers=None):
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"csrf_token": csrf_token(page.text), "name": name, "password": password},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, cookie: str):
    """Another browser holding a copy of `cookie`."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


@pytest.fixture
def frozen_clock(monkeypatch):
    now = [clock.utcnow()]
    monkeypatch.setattr(clock, "utcnow", lambda: now[0])

    class Clock:
        def advance(self, seconds: float) -> None:
            now[0] += timedelta(seconds=seconds)
    return Clock()
