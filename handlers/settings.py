"""Every setting of the service, and the only place that reads the environment.

`VARIABLES` lists each environment variable with its default and a line of help; the
README's configuration table is checked against it by the test suite. `Settings` is
what the running service uses: built once by `Settings.from_env()` (or by tests in
code) and checked before anything starts. gunicorn.conf.py reads its own few values
(address, workers, metrics folder) through `server_value()`.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://graph.facebook.com/v26.0"
DEFAULT_DB = str(PROJECT_DIR / "var" / "optout.db")
WHATSAPP_TEXT_LIMIT = 4096  # characters in one text message, ours or the user's
# Meta sends up to ~3 MB per delivery; leave room above it.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEV_APP_SECRET = "dev-app-secret"
DEV_VERIFY_TOKEN = "dev-verify-token"
DEV_ADMIN_TOKEN = "dev-admin-token"
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ConfigError(RuntimeError):
    """The service cannot start with these settings."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _number(value: str) -> float:
    return float(value)


def _count(value: str) -> int:
    return int(value)


@dataclass(frozen=True)
class Variable:
    """One environment variable: where it goes, its default as the README shows it, and why."""
    name: str
    field: str | None                 # the Settings field it fills; None: read by gunicorn.conf.py
    default: str                      # as a person reads it (README table)
    help: str
    parse: Callable[[str], object] = str


VARIABLES: tuple[Variable, ...] = (
    Variable("WHATSAPP_APP_SECRET", "app_secret", "required", "your Meta app's secret; signs every delivery"),
    Variable("WHATSAPP_VERIFY_TOKEN", "verify_token", "required",
             "the token you type in Meta's webhook settings"),
    Variable("ADMIN_TOKEN", "admin_token", "required", "bearer token for `/api/...`"),
    Variable("WHATSAPP_ACCESS_TOKEN", "access_token", "empty (sends fail with an operator alert)",
             "token used to send confirmations"),
    Variable("WHATSAPP_API_URL", "api_url", f"`{DEFAULT_API_URL}`", "Graph API base URL"),
    Variable("OPTOUT_DATABASE_URL", "database_url", "`sqlite:///` + `OPTOUT_DB`",
             "the database: `sqlite:///path/to/file.db`, or `postgresql://user:password@host:5432/name` "
             "for several hosts sharing one (see docs/deployment.md)"),
    Variable("OPTOUT_DB", "db_path", "`var/optout.db` under the project",
             "the SQLite file (when `OPTOUT_DATABASE_URL` is not set)"),
    Variable("OPTOUT_DEFAULT_LANGUAGE", "default_language", "`en`", "reply language when nothing else decides"),
    Variable("OPTOUT_LOCALES_DIR", "locales_dir", "`locales/` under the project",
             "the folder of locale files (keywords and replies per language)"),
    Variable("OPTOUT_BIND", None, "`127.0.0.1:8000`", "gunicorn's address"),
    Variable("OPTOUT_WORKERS", None, "`2`", "gunicorn's worker count", _count),
    Variable("OPTOUT_SENDER", None, "`1`",
             "`0`: gunicorn starts no outbox sender process on this host (another host's sender drains the "
             "shared outbox)", _flag),
    Variable("OPTOUT_SECRET_KEY", "secret_key", "derived from `WHATSAPP_APP_SECRET`",
             "signs the admin session cookie"),
    Variable("OPTOUT_TRUSTED_PROXIES", "trusted_proxies", "`0`",
             "how many reverse proxies in front of the service set `X-Forwarded-For`, `-Proto` and `-Host` "
             "(werkzeug ProxyFix); `0` believes none of these headers", _count),
    Variable("OPTOUT_CONFIG_POLL_SECONDS", "config_poll_seconds", "`0.5`",
             "how often a worker checks for staff keyword edits", _number),
    Variable("OPTOUT_CHAT_BATCH_SECONDS", "chat_batch_seconds", "`0.2`",
             "ordinary chat (no opt-out, opt-in, help or review) is answered at once and its dedupe key and "
             "preview row written in one batch per worker within this time (0.01 to 60); `0`: each in its own "
             "transaction",
             _number),
    Variable("OPTOUT_RECORD_DIR", "record_dir", "off",
             "write every verified delivery to this folder, for `flask replay` later"),
    Variable("OPTOUT_RECORD_ANONYMIZE", "record_anonymize", "`1`",
             "`0` keeps real numbers and names in recordings; by default they are replaced by stable fakes",
             lambda value: value.strip() != "0"),
    Variable("OPTOUT_METRICS_TOKEN", "metrics_token", "off",
             "when set, `/metrics` wants `Authorization: Bearer <it>`"),
    Variable("OPTOUT_OUTBOX_LEASE_SECONDS", "outbox_lease_seconds", "`60`",
             "how long a sender holds a confirmation before another may take it over", _number),
    Variable("OPTOUT_SEND_TIMEOUT_SECONDS", "send_timeout_seconds", "`10`",
             "timeout of one call to the Cloud API", _number),
    Variable("OPTOUT_OUTBOX_POLL_SECONDS", "outbox_poll_seconds", "`1`",
             "how often an idle sender looks for due confirmations", _number),
    Variable("OPTOUT_MAX_BODY_BYTES", "max_body_bytes", "`8388608` (8 MB)",
             "largest delivery accepted (Meta sends up to about 3 MB)", _count),
    Variable(METRICS_DIR_VARIABLE, "metrics_dir",
             "`metrics/` beside the SQLite file, or `var/metrics-<address>` with PostgreSQL (under gunicorn)",
             "where gunicorn workers keep their Prometheus counts so `/metrics` sums them"),
    Variable("OPTOUT_DEV_MODE", "dev_mode", "off",
             "`1`: fill in missing secrets with fixed development values (`dev-app-secret`, `dev-verify-token`, "
             "`dev-admin-token`) when none is set, or with random ones when some are; listen on loopback only. "
             "Never in production.", _flag),
)
_BY_NAME = {variable.name: variable for variable in VARIABLES}
# The secrets development mode may fill in: (Settings field, variable, published development value).
DEV_SECRETS = (("app_secret", "WHATSAPP_APP_SECRET", DEV_APP_SECRET),
               ("verify_token", "WHATSAPP_VERIFY_TOKEN", DEV_VERIFY_TOKEN),
               ("admin_token", "ADMIN_TOKEN", DEV_ADMIN_TOKEN))
# Every setting that is a secret: blank (whitespace) is refused, never taken for a value.
SECRET_FIELDS = {"app_secret": "WHATSAPP_APP_SECRET", "verify_token": "WHATSAPP_VERIFY_TOKEN",
                 "admin_token": "ADMIN_TOKEN", "access_token": "WHATSAPP_ACCESS_TOKEN",
                 "secret_key": "OPTOUT_SECRET_KEY", "metrics_token": "OPTOUT_METRICS_TOKEN"}
MAX_CHAT_BATCH_SECONDS = 60.0   # how long ordinary chat's rows may wait at most
MAX_TRUSTED_PROXIES = 5


def _read(variable: Variable, env: Mapping[str, str]):
    """The parsed value, or None when unset or empty; a bad value is a ConfigError naming it."""
    text = env.get(variable.name, "")
    if not text:
        return None
    try:
        return variable.parse(text)
    except ValueError:
        raise ConfigError(f"{variable.name} must be a number, got {text!r}") from None


def server_value(name: str, fallback, env: Mapping[str, str] | None = None):
    """A gunicorn-level setting (OPTOUT_BIND, OPTOUT_WORKERS, the metrics folder)."""
    value = _read(_BY_NAME[name], os.environ if env is None else env)
    return fallback if value is None else value


def check_bind(addresses: Iterable[str], env: Mapping[str, str] | None = None) -> None:
    """Development mode listens on this machine only: its secrets are published.
    Called by gunicorn.conf.py with the addresses gunicorn is about to bind."""
    if not server_value("OPTOUT_DEV_MODE", False, env):
        return
    public = [address for address in addresses if not is_loopback_bind(address)]
    if public:
        raise ConfigError(
            f"OPTOUT_DEV_MODE=1 listens on this machine only (127.0.0.1, ::1, localhost or a unix socket), "
            f"not {', '.join(public)}: its secrets are published. Set real secrets instead to serve beyond loopback.")


def is_loopback_bind(address: str) -> bool:
    """Whether a gunicorn bind address ("127.0.0.1:8000", "[::1]:8000", "unix:/run/x.sock",
    "0.0.0.0:8000", ...) is reachable from this machine only."""
    address = address.strip()
    if address.startswith("unix:"):
        return True
    if address.startswith("["):
        host = address[1:address.find("]")] if "]" in address else ""
    elif address.count(":") == 1:
        host = address.split(":")[0]
    else:
        host = address  # a bare host or a bare IPv6 address
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "", "fd://3", a host name: could be anywhere


def default_metrics_dir(database: str, bind: str = "") -> str:
    """`metrics/` beside a SQLite file; for PostgreSQL, `var/metrics-<address>` under the
    project (one folder per service instance on the machine)."""
    path = sqlite_file(database)
    if path is None:
        return str(PROJECT_DIR / "var" / ("metrics-" + "".join(c if c.isalnum() else "-" for c in bind)).rstrip("-"))
    return os.path.join(os.path.dirname(os.path.abspath(path)), "metrics")


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def sqlite_file(database: str) -> str | None:
    """The SQLite file a database setting names (a path, or `sqlite:///path`, with
    `sqlite:////abs/path` absolute as in SQLAlchemy), or None for a PostgreSQL URL."""
    if database.startswith(POSTGRES_SCHEMES):
        return None
    if database.startswith("sqlite:///"):
        return database[len("sqlite:///"):]
    return database


@dataclass(frozen=True)
class Settings:
    app_secret: str
    verify_token: str
    admin_token: str
    access_token: str = ""
    api_url: str = DEFAULT_API_URL
    db_path: str = DEFAULT_DB
    database_url: str = ""           # sqlite:///path or postgresql://...; empty: the SQLite file db_path
    locales_dir: str = str(PROJECT_DIR / "locales")
    default_language: str = "en"
    dev_mode: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    reply_window_seconds: int = 24 * 3600
    outbox_poll_seconds: float = 1.0
    # back-off doubling from 2 s to its one-hour cap (less 20% jitter): 42 attempts span the 24-hour window, so an
    # outage of the Cloud API shorter than the window fails no confirmation
    outbox_max_attempts: int = 42
    send_timeout_seconds: float = 10.0
    record_dir: str = ""             # write every verified delivery here (replay it with `flask replay`)
    record_anonymize: bool = True    # ... with phone numbers and names replaced by stable fakes
    outbox_lease_seconds: float = 60.0
    metrics_token: str = ""          # when set, /metrics wants "Authorization: Bearer <it>"
    metrics_dir: str = ""            # gunicorn workers' shared Prometheus folder; empty: this process only
    secret_key: str = ""             # admin session cookie key; empty: derived from app_secret
    config_poll_seconds: float = 0.5
    chat_batch_seconds: float = 0.2  # ordinary chat's rows written in one batch per process within this time
    trusted_proxies: int = 0         # reverse proxies whose X-Forwarded-* headers are believed
    dev_filled: tuple[str, ...] = ()     # variables development mode filled with published values
    dev_randomized: tuple[str, ...] = ()  # ... and with random ones (real secrets were given)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {"app_secret": "", "verify_token": "", "admin_token": ""}
        for variable in VARIABLES:
            if variable.field in known:
                value = _read(variable, env)
                if value is not None:
                    values[variable.field] = value
        values.update(overrides)
        return cls(**values).checked()

    @property
    def database(self) -> str:
        """What the storage layer opens: OPTOUT_DATABASE_URL, or else the SQLite file OPTOUT_DB."""
        return self.database_url or self.db_path

    @property
    def session_key(self) -> str:
        """The admin cookie's signing key: OPTOUT_SECRET_KEY, or one derived from the app
        secret, so every worker (and every host with the same secret) shares it."""
        return self.secret_key or hmac.new(self.app_secret.encode(), b"optout admin session key",
                                           hashlib.sha256).hexdigest()

    @property
    def session_key_from_database(self) -> bool:
        """Whether the admin cookie needs a random key kept in the database (shared by the
        workers) instead of `session_key`: derived from the published development secret,
        anyone could sign an admin session; derived from a random per-process one
        (development mode with some real secrets), each worker would refuse the others' cookies."""
        return not self.secret_key and (self.app_secret == DEV_APP_SECRET or "WHATSAPP_APP_SECRET" in self.dev_randomized)

    def dev_mode_notes(self) -> list[str]:
        """What development mode did, for the start-up log."""
        if not self.dev_mode:
            return []
        notes = ["OPTOUT_DEV_MODE is on: listening on loopback only; never run this in production"]
        if self.dev_filled:
            notes.append(f"development values in use for {', '.join(self.dev_filled)} (published: anyone can use them)")
        if self.dev_randomized:
            notes.append(f"{', '.join(self.dev_randomized)} not set: real secrets were given, so development mode "
                         "filled in a random value that nobody knows (what needs it refuses everyone)")
        return notes

    def checked(self) -> Settings:
        """Fill development defaults when explicitly allowed; refuse to run without secrets otherwise."""
        settings = self
        for field, variable in SECRET_FIELDS.items():
            value = getattr(settings, field)
            if value and not value.strip():
                raise ConfigError(f"{variable} is blank (only whitespace): set a real value, or leave it unset")
        if settings.dev_mode:
            # Development values only when no secret at all is given: with real secrets
            # (testing against Meta, say), a published value must never authenticate.
            real = any(getattr(settings, field) for field, _, _ in DEV_SECRETS)
            unset = [(field, variable, value) for field, variable, value in DEV_SECRETS
                     if not getattr(settings, field)]
            filled: dict[str, Any] = {field: secrets.token_urlsafe(32) if real else value for field, _, value in unset}
            names = tuple(variable for _, variable, _ in unset)
            settings = replace(settings, **filled, dev_filled=() if real else names,
                               dev_randomized=names if real else ())
        else:
            published = [variable for field, variable, value in DEV_SECRETS if getattr(settings, field) == value]
            if published:
                raise ConfigError(f"{', '.join(published)} is a published development value: set a secret of your own "
                                  "(or OPTOUT_DEV_MODE=1 for a local try)")
        if not (settings.chat_batch_seconds == 0 or 0.01 <= settings.chat_batch_seconds <= MAX_CHAT_BATCH_SECONDS):
            raise ConfigError(f"OPTOUT_CHAT_BATCH_SECONDS must be 0 (no batch) or 0.01 to {MAX_CHAT_BATCH_SECONDS:g} "
                              f"seconds, got {settings.chat_batch_seconds}")
        if not 0 <= settings.trusted_proxies <= MAX_TRUSTED_PROXIES:
            raise ConfigError(f"OPTOUT_TRUSTED_PROXIES must be 0 to {MAX_TRUSTED_PROXIES}, got {settings.trusted_proxies}")
        missing = [
            name
            for name, value in (
                ("WHATSAPP_APP_SECRET", settings.app_secret),
                ("WHATSAPP_VERIFY_TOKEN", settings.verify_token),
                ("ADMIN_TOKEN", settings.admin_token),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set. Set them (see .env.example), or set "
                "OPTOUT_DEV_MODE=1 to run locally with development-only secrets."
            )
        if settings.database_url and not settings.database_url.startswith(("sqlite:///", *POSTGRES_SCHEMES)):
            raise ConfigError("OPTOUT_DATABASE_URL must start with sqlite:/// or postgresql://, got "
                              f"{settings.database_url.split('://')[0]!r}://...")
        if not settings.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"WHATSAPP_API_URL must be an http(s) URL, got {settings.api_url!r}")
        if settings.send_timeout_seconds <= 0:
            raise ConfigError(f"OPTOUT_SEND_TIMEOUT_SECONDS must be more than 0, got {settings.send_timeout_seconds:g}")
        if settings.outbox_lease_seconds <= settings.send_timeout_seconds:
            raise ConfigError(
                f"OPTOUT_OUTBOX_LEASE_SECONDS ({settings.outbox_lease_seconds:g}) must be longer than the send "
                f"timeout ({settings.send_timeout_seconds:g}), or a slow send is taken over and sent twice"
            )
        return settings
