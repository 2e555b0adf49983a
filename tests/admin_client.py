"""Fixtures for the staff tools: a staff account, a logged-in client, keyword helpers.

The fixtures `admin` and `staff_account` are registered in conftest.py.
"""
import re

import pytest

from handlers.detection.intents import Intent, Match
from handlers.staff import accounts, keyword_store

STAFF_NAME = "ana"
STAFF_PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def ensure_absent(service, language: str, keyword: str) -> None:
    """Take a keyword out of a language, whatever the shipped files say (tests must not
    depend on the contents of locales/)."""
    for intent, kind in keyword_store.placements(service.locales[language], keyword):
        keyword_store.apply_change(service.db, service.file_locales,
                                   keyword_store.Change("remove", language, intent, keyword, kind), "test-setup")
    service.refresh(force=True)


def add_keyword(service, language, intent, keyword, match=Match.WHOLE):
    ensure_absent(service, language, keyword)
    keyword_store.apply_change(service.db, service.file_locales,
                               keyword_store.Change("add", language, Intent(intent), keyword, Match(match)), "test-setup")
    service.refresh(force=True)


@pytest.fixture
def staff_account(service):
    accounts.add(service.db, STAFF_NAME, STAFF_PASSWORD)
    return STAFF_NAME


class Admin:
    def __init__(self, client):
        self.client = client
        self.token = None

    def login(self, name=STAFF_NAME, password=STAFF_PASSWORD, ip="10.0.0.1"):
        page = self.client.get("/admin/login")
        response = self.client.post("/admin/login", data={
            "csrf_token": csrf_token(page.text), "name": name, "password": password},
            environ_base={"REMOTE_ADDR": ip})
        if response.status_code == 302:
            self.token = csrf_token(self.client.get("/admin/keywords").text)
        return response

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, follow=False):
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, follow_redirects=follow)


@pytest.fixture
def admin(client, staff_account):
    helper = Admin(client)
    assert helper.login().status_code == 302
    return helper
