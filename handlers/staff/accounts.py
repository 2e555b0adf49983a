"""Staff accounts for the admin page: hashed passwords, login throttling and sessions.

Throttling slows a guesser without locking the rightful user out. It counts wrong
passwords per name *and* address: after FREE_FAILURES, each further try from that
pair waits twice as long as the last (FIRST_WAIT_SECONDS, 4, 8, ... up to MAX_WAIT).
Another address, or another name on the same address, is not affected. A guesser
spread over many addresses meets a second, per-name backoff after NAME_FREE_FAILURES,
which spares the addresses that logged in to that name before (KNOWN_ADDRESS_DAYS).
Attempts are stored in the database, so this holds across gunicorn workers and
restarts. Password hashing (scrypt, about 130 ms) never runs inside the write lock,
which every delivery waits for.

Sessions: each account has a random session token, carried in the admin cookie and
checked on every request. Logout, a password change and removal replace it, which
ends every session of that account. Flask-free.
"""
from __future__ import annotations

import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from handlers.storage import clock
from handlers.storage.db import Database, insert_row, lock, transaction

FREE_FAILURES = 3             # wrong passwords per name and address before any wait
NAME_FREE_FAILURES = 10       # per name from all addresses, before new addresses wait too
FIRST_WAIT_SECONDS = 2.0      # then doubled with every further wrong password ...
MAX_WAIT = timedelta(minutes=15)   # ... up to this
WINDOW = timedelta(hours=1)        # wrong passwords older than this are forgotten
KNOWN_ADDRESS_DAYS = 30            # an address that logged in to a name is known to it this long
PRUNE_EVERY = 100
MIN_PASSWORD_LENGTH = 10
_NAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
# Checked when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


class StaffError(ValueError):
    pass


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    throttled: bool = False
    message: str = ""
    retry_after: int = 0               # seconds, when throttled
    session_token: str | None = None   # for the cookie, when ok


def add(db: Database, name: str, password: str) -> None:
    if not _NAME.match(name or ""):
        raise StaffError("a staff name is 2-64 letters, digits or . _ @ -")
    password_hash = _new_hash(password)
    with transaction(db):
        if exists(db, name):
            raise StaffError(f"staff account {name!r} already exists")
        insert_row(db, "staff", {"name": name, "password_hash": password_hash, "created_at": clock.now_iso(),
                                 "session_token": secrets.token_hex(16)})


def set_password(db: Database, name: str, password: str) -> None:
    """A new password; every session of the account ends."""
    password_hash = _new_hash(password)
    with transaction(db):
        if not exists(db, name):
            raise StaffError(f"no staff account {name!r}")
        db.execute("UPDATE staff SET password_hash = ?, session_token = ? WHERE name = ?",
                   [password_hash, secrets.token_hex(16), name])


def remove(db: Database, name: str) -> None:
    """Delete the account; its sessions end with it (a new account of the same name gets a
    new session token, so an old cookie does not come back to life)."""
    with transaction(db):
        if not exists(db, name):
            raise StaffError(f"no staff account {name!r}")
        db.execute("DELETE FROM staff WHERE name = ?", [name])


def end_sessions(db: Database, name: str) -> None:
    """Log the account out everywhere (logout does this)."""
    with transaction(db, durable=False):
        db.execute("UPDATE staff SET session_token = ? WHERE name = ?", [secrets.token_hex(16), name])


def session_is_valid(db: Database, name: str, token: object) -> bool:
    """The cookie's account still exists and its sessions have not been ended since."""
    row = db.execute("SELECT session_token FROM staff WHERE name = ?", [name]).fetchone()
    return bool(row and row[0] and isinstance(token, str) and hmac.compare_digest(row[0], token))


def exists(db: Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM staff WHERE name = ?", [name]).fetchone() is not None


def names(db: Database) -> list[dict]:
    return list(db.query("SELECT name, created_at FROM staff ORDER BY name"))


def login(db: Database, name: str, password: str, ip: str) -> LoginResult:
    """Check a password, unless this name and address (or, for an address new to the name,
    the name alone) must wait after wrong passwords."""
    name, ip = (name or "").strip()[:64], (ip or "-")[:64]
    now = clock.utcnow()
    with transaction(db, durable=False):
        lock(db, f"login:{name}")  # attempts at one name take turns, on every host
        wait = _wait(db, name, ip, now)
        if wait > 0:
            seconds = math.ceil(wait)
            return LoginResult(False, throttled=True, retry_after=seconds, message=(
                f"Too many wrong passwords for this name. Try again in {_duration(seconds)}."))
        # Counted as wrong until the hash says otherwise, so guesses sent in parallel see each other.
        attempt = insert_row(db, "login_attempts", {"name": name, "ip": ip, "ok": 0, "at": clock.iso(now)})
        if attempt % PRUNE_EVERY == 0:
            _prune(db, now)
        row = db.execute("SELECT password_hash, session_token FROM staff WHERE name = ?", [name]).fetchone()
    # scrypt, outside the write lock.
    ok = check_password_hash(row[0] if row else _DUMMY_HASH, password or "") and row is not None
    if not ok:
        return LoginResult(False, message="Wrong name or password.")
    with transaction(db, durable=False):
        db.execute("UPDATE login_attempts SET ok = 1 WHERE id = ?", [attempt])
    return LoginResult(True, session_token=row[1])


def _wait(db: Database, name: str, ip: str, now: datetime) -> float:
    """Seconds this name and address must still wait before their next try (0: none)."""
    since = clock.iso(now - WINDOW)
    last_ok = db.execute("SELECT max(at) FROM login_attempts WHERE name = ? AND ip = ? AND ok = 1",
                         [name, ip]).fetchone()[0]
    count, last = db.execute(
        "SELECT count(*), max(at) FROM login_attempts WHERE name = ? AND ip = ? AND ok = 0 AND at > ?",
        [name, ip, max(since, last_ok or "")]).fetchone()
    wait = _backoff(count, FREE_FAILURES, last, now)
    if wait <= 0 and not _known_address(last_ok, now):
        count, last = db.execute("SELECT count(*), max(at) FROM login_attempts WHERE name = ? AND ok = 0 AND at > ?",
                                 [name, since]).fetchone()
        wait = _backoff(count, NAME_FREE_FAILURES, last, now)
    return wait


def _backoff(failures: int, free: int, last: str | None, now: datetime) -> float:
    if failures < free or last is None:
        return 0.0
    delay = min(FIRST_WAIT_SECONDS * 2 ** min(failures - free, 30), MAX_WAIT.total_seconds())
    return (clock.parse_iso(last) + timedelta(seconds=delay) - now).total_seconds()


def _known_address(last_ok: str | None, now: datetime) -> bool:
    return last_ok is not None and clock.parse_iso(last_ok) > now - timedelta(days=KNOWN_ADDRESS_DAYS)


def _prune(db: Database, now: datetime) -> None:
    db.execute("DELETE FROM login_attempts WHERE (ok = 0 AND at < ?) OR at < ?",
               [clock.iso(now - WINDOW), clock.iso(now - timedelta(days=KNOWN_ADDRESS_DAYS))])


def _duration(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"


def _new_hash(password: str) -> str:
    """Checked and hashed before any transaction: scrypt must not hold the write lock."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password)


def instance_secret(db: Database, name: str) -> str:
    """A random secret this installation made for itself, the same in every worker and
    across restarts (the admin cookie's key when the configured one is a published
    development value)."""
    row = db.execute("SELECT value FROM instance_secrets WHERE name = ?", [name]).fetchone()
    if row:
        return row[0]
    with transaction(db):
        insert_row(db, "instance_secrets", {"name": name, "value": secrets.token_hex(32), "created_at": clock.now_iso()},
                   ignore=True)
    return db.execute("SELECT value FROM instance_secrets WHERE name = ?", [name]).fetchone()[0]
