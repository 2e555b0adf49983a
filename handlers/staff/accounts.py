"""Staff accounts for the admin page: hashed passwords and login throttling.

Attempts are stored in the database, so the limit holds across gunicorn workers
and restarts. Flask-free.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from handlers.storage import clock
from handlers.storage.db import Database, lock, transaction

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
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


def add(db: Database, name: str, password: str) -> None:
    if not _NAME.match(name or ""):
        raise StaffError("a staff name is 2-64 letters, digits or . _ @ -")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(db):
        if exists(db, name):
            raise StaffError(f"staff account {name!r} already exists")
        db.table("staff").insert({"name": name, "password_hash": generate_password_hash(password),
                            "created_at": clock.now_iso()})


def set_password(db: Database, name: str, password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(db):
        if not exists(db, name):
            raise StaffError(f"no staff account {name!r}")
        db.execute("UPDATE staff SET password_hash = ? WHERE name = ?", [generate_password_hash(password), name])


def remove(db: Database, name: str) -> None:
    with transaction(db):
        if not exists(db, name):
            raise StaffError(f"no staff account {name!r}")
        db.execute("DELETE FROM staff WHERE name = ?", [name])


def exists(db: Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM staff WHERE name = ?", [name]).fetchone() is not None


def names(db: Database) -> list[dict]:
    return list(db.query("SELECT name, created_at FROM staff ORDER BY name"))


def login(db: Database, name: str, password: str, ip: str) -> LoginResult:
    """Check a password, unless this name or address failed too often lately."""
    name, ip = (name or "").strip()[:64], (ip or "-")[:64]
    since = clock.iso(clock.utcnow() - WINDOW)
    with transaction(db):
        lock(db, f"login:name:{name}", f"login:ip:{ip}")  # no two hosts check one name or address at once
        failures = db.execute(
            "SELECT count(*) FROM login_attempts WHERE ok = 0 AND at > ? AND (name = ? OR ip = ?)",
            [since, name, ip]).fetchone()[0]
        if failures >= MAX_FAILURES:
            minutes = int(WINDOW.total_seconds() // 60)
            return LoginResult(False, throttled=True, message=(
                f"Too many wrong passwords for this account or address. Try again in {minutes} minutes."))
        row = db.execute("SELECT password_hash FROM staff WHERE name = ?", [name]).fetchone()
        if row:
            ok = check_password_hash(row[0], password or "")
        else:
            check_password_hash(_DUMMY_HASH, password or "")
            ok = False
        db.table("login_attempts").insert({"name": name, "ip": ip, "ok": int(ok), "at": clock.now_iso()})
        db.execute("DELETE FROM login_attempts WHERE at < ?", [clock.iso(clock.utcnow() - 4 * WINDOW)])
    return LoginResult(ok, message="" if ok else "Wrong name or password.")
