"""Settings from the environment, checked once at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://graph.facebook.com/v26.0"
DEFAULT_DB = str(PROJECT_DIR / "var" / "optout.db")
# Meta sends up to ~3 MB per delivery; leave room above it.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEV_APP_SECRET = "dev-app-secret"
DEV_VERIFY_TOKEN = "dev-verify-token"
DEV_ADMIN_TOKEN = "dev-admin-token"


class ConfigError(RuntimeError):
    """The service cannot start with these settings."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    app_secret: str
    verify_token: str
    admin_token: str
    access_token: str = ""
    api_url: str = DEFAULT_API_URL
    db_path: str = DEFAULT_DB
    locales_dir: str = str(PROJECT_DIR / "locales")
    default_language: str = "en"
    dev_mode: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    reply_window_seconds: int = 24 * 3600
    outbox_poll_seconds: float = 1.0
    outbox_max_attempts: int = 12
    send_timeout_seconds: float = 10.0
    record_dir: str = ""             # write every verified delivery here (replay it with `flask replay`)
    record_anonymize: bool = True    # ... with phone numbers and names replaced by stable fakes
    outbox_lease_seconds: float = 60.0
    metrics_token: str = ""             # when set, /metrics wants "Authorization: Bearer <it>"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        dev = _flag(env.get("OPTOUT_DEV_MODE"))
        values = dict(
            app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            admin_token=env.get("ADMIN_TOKEN", ""),
            access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
            api_url=env.get("WHATSAPP_API_URL") or DEFAULT_API_URL,
            db_path=env.get("OPTOUT_DB") or DEFAULT_DB,
            default_language=env.get("OPTOUT_DEFAULT_LANGUAGE") or "en",
            dev_mode=dev,
        )
        if env.get("OPTOUT_LOCALES_DIR"):
            values["locales_dir"] = env["OPTOUT_LOCALES_DIR"]
        if env.get("OPTOUT_RECORD_DIR"):
            values["record_dir"] = env["OPTOUT_RECORD_DIR"]
            values["record_anonymize"] = env.get("OPTOUT_RECORD_ANONYMIZE", "1").strip() != "0"
        if env.get("OPTOUT_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["OPTOUT_MAX_BODY_BYTES"])
        for name, key, kind in (
            ("outbox_lease_seconds", "OPTOUT_OUTBOX_LEASE_SECONDS", float),
            ("send_timeout_seconds", "OPTOUT_SEND_TIMEOUT_SECONDS", float),
            ("outbox_poll_seconds", "OPTOUT_OUTBOX_POLL_SECONDS", float),
        ):
            if env.get(key):
                try:
                    values[name] = kind(env[key])
                except ValueError:
                    raise ConfigError(f"{key} must be a number, got {env[key]!r}") from None
        if env.get("OPTOUT_METRICS_TOKEN"):
            values["metrics_token"] = env["OPTOUT_METRICS_TOKEN"]
        values.update(overrides)
        return cls(**values).checked()

    def checked(self) -> "Settings":
        """Fill development defaults when explicitly allowed; refuse to run without secrets otherwise."""
        settings = self
        if settings.dev_mode:
            settings = replace(
                settings,
                app_secret=settings.app_secret or DEV_APP_SECRET,
                verify_token=settings.verify_token or DEV_VERIFY_TOKEN,
                admin_token=settings.admin_token or DEV_ADMIN_TOKEN,
            )
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
        if not settings.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"WHATSAPP_API_URL must be an http(s) URL, got {settings.api_url!r}")
        if settings.outbox_lease_seconds <= settings.send_timeout_seconds:
            raise ConfigError(
                f"OPTOUT_OUTBOX_LEASE_SECONDS ({settings.outbox_lease_seconds:g}) must be longer than the send "
                f"timeout ({settings.send_timeout_seconds:g}), or a slow send is taken over and sent twice"
            )
        return settings
