"""Issue 12, items 4, 6 and 7: login throttling that slows a guesser without locking
anyone out, password hashing outside the write lock, and sessions that end on logout,
a password change or removal. Through HTTP and the CLI."""
import fcntl
import os

import pytest

from handlers.staff import accounts
from tests.admin_client import STAFF_PASSWORD
from tests.login_helpers import cookie_of, login, with_cookie

# -- item 6: throttling per name and address, with backoff -----------------------------------


def test_wrong_passwords_slow_that_name_and_address_down_with_growing_waits(client, staff_account, frozen_clock):
    for _ in range(accounts.FREE_FAILURES):
        assert login(client, password="wrong password").status_code == 401
    refused = login(client)  # even the right password waits now, from this address
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
    assert refused.headers["Retry-After"] == "2"
    frozen_clock.advance(2)
    assert login(client, password="wrong again").status_code == 401
    assert login(client).headers["Retry-After"] == "4"  # twice as long
    frozen_clock.advance(4)
    assert login(client).status_code == 302


def test_a_guesser_never_locks_the_rightful_user_out_from_another_address(client, staff_account, frozen_clock):
    for _ in range(12):
        login(client, password="guess", ip="203.0.113.66")
    assert login(client, password="guess", ip="203.0.113.66").status_code == 429
    assert login(client, ip="10.0.0.1").status_code == 302


def test_a_guesser_never_locks_other_users_of_the_same_address_out(client, service, staff_account, frozen_clock):
    accounts.add(service.db, "luis", "another long password")
    for _ in range(10):
        login(client, name="ana", password="guess", ip="10.9.9.9")
    for number in range(10):
        login(client, name=f"guess{number}", password="guess", ip="10.9.9.9")
    assert login(client, name="luis", password="another long password", ip="10.9.9.9").status_code == 302


def test_a_guesser_spread_over_many_addresses_meets_a_backoff_that_spares_known_addresses(
        client, staff_account, frozen_clock):
    assert login(client, ip="10.0.0.1").status_code == 302  # ana's usual address
    for number in range(accounts.NAME_FREE_FAILURES):
        assert login(client, password="guess", ip=f"198.51.100.{number}").status_code == 401
    assert login(client, password="guess", ip="198.51.100.200").status_code == 429
    assert login(client, ip="10.0.0.1").status_code == 302
    frozen_clock.advance(2)
    assert login(client, ip="192.0.2.1").status_code == 302  # a new address waits, is not locked out


# -- item 4: scrypt outside the write lock ----------------------------------------------------


@pytest.mark.sqlite_only  # the write lock file; PostgreSQL has no database-wide writer lock to hold
def test_password_hashing_never_holds_the_write_lock(app, client, service, monkeypatch):
    held = []

    def write_lock_is_held() -> bool:
        fd = os.open(service.db.write_lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def watched(function):
        def wrapper(*args, **kwargs):
            held.append((function.__name__, write_lock_is_held() or service.db.conn.in_transaction))
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(accounts, "check_password_hash", watched(accounts.check_password_hash))
    monkeypatch.setattr(accounts, "generate_password_hash", watched(accounts.generate_password_hash))
    cli = app.test_cli_runner()
    assert cli.invoke(args=["staff", "add", "ana", "--password-stdin"], input=STAFF_PASSWORD + "\n").exit_code == 0
    assert login(client, password="wrong password").status_code == 401
    assert login(client, name="nobody", password="wrong password").status_code == 401
    assert login(client).status_code == 302
    assert cli.invoke(args=["staff", "password", "ana", "--password-stdin"], input="a new long password\n").exit_code == 0
    assert [name for name, _ in held] == ["generate_password_hash"] + ["check_password_hash"] * 3 + [
        "generate_password_hash"]
    assert not any(locked for _, locked in held)


# -- item 7: sessions end on logout, password change and removal -----------------------------


def test_a_session_in_constant_use_still_ends_8_hours_after_the_login(app, admin, monkeypatch):
    import time as clock
    login_time = clock.time()
    assert admin.get("/admin/keywords").status_code == 200
    monkeypatch.setattr("handlers.web.admin.time.time", lambda: login_time + 7.9 * 3600)
    assert admin.get("/admin/keywords").status_code == 200          # busy all day: each answer renews the cookie
    monkeypatch.setattr("handlers.web.admin.time.time", lambda: login_time + 8.1 * 3600)
    response = admin.get("/admin/keywords")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_logout_ends_the_session_even_for_a_copy_of_its_cookie(app, admin):
    copy = cookie_of(admin.client)
    assert with_cookie(app, copy).get("/admin/keywords").status_code == 200
    admin.post("/admin/logout")
    response = with_cookie(app, copy).get("/admin/keywords")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_password_change_ends_existing_sessions(app, admin):
    copy = cookie_of(admin.client)
    result = app.test_cli_runner().invoke(args=["staff", "password", "ana", "--password-stdin"],
                                          input="a brand new password\n")
    assert result.exit_code == 0, result.output
    assert with_cookie(app, copy).get("/admin/keywords").status_code == 302
    assert admin.get("/admin/keywords").status_code == 302
    assert login(app.test_client(), password="a brand new password").status_code == 302


def test_staff_remove_ends_sessions_and_a_new_account_of_that_name_does_not_revive_them(app, service, admin):
    copy = cookie_of(admin.client)
    assert app.test_cli_runner().invoke(args=["staff", "remove", "ana"]).exit_code == 0
    assert with_cookie(app, copy).get("/admin/keywords").status_code == 302
    accounts.add(service.db, "ana", STAFF_PASSWORD)
    assert with_cookie(app, copy).get("/admin/keywords").status_code == 302
