"""`flask replay`: post sample or recorded deliveries, signed, and show what the service did."""
from __future__ import annotations

import ipaddress
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request

import click
from flask import current_app
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigCommand
from handlers.consent.identity import InvalidIdentity, mask
from handlers.ops.replay import ReplayError, Row, encode, payload_files, restamp, summarise, text_delivery
from handlers.whatsapp import signature

PROGRESS_FROM = 20


@click.command("replay", cls=ConfigCommand, short_help="Post sample or recorded deliveries to the webhook.")
@click.argument("paths", nargs=-1)
@click.option("--url", help="A running service (e.g. http://127.0.0.1:8000); default: this app in-process.")
@click.option("--allow-remote", is_flag=True,
              help="Let --url name another machine. The deliveries are signed with this environment's app "
                   "secret, so only point it at a service you own.")
@click.option("--dry-run", is_flag=True, help="Classify and show what would happen; write and send nothing.")
@click.option("--text", "text", help='Build a delivery from this message, e.g. --text "Quiero darme de baja".')
@click.option("--from", "sender", default="+593991234567", show_default=True, help="Sender number for --text.")
@click.option("--now", "now", is_flag=True, help="Move the files' timestamps to now (replies need the 24-hour window).")
@click.option("--show-numbers", is_flag=True, help="Print phone numbers unmasked.")
@click.option("--verbose", is_flag=True, help="Also print the service's own log lines.")
@with_appcontext
def replay_command(paths, url, allow_remote, dry_run, text, sender, now, show_numbers, verbose):
    """Sign each payload with the configured app secret and post it to the webhook.

    PATHS are JSON files or folders of them (e.g. samples/). Exit status is 1 if any
    delivery was refused or failed.
    """
    if dry_run and url:
        raise click.UsageError("--dry-run works in-process only (a running service would write)")
    if not paths and not text:
        raise click.UsageError("give payload files or folders, or --text")
    if url:
        _check_target(url, allow_remote)
    try:
        jobs = [(path.name, path.read_bytes()) for path in payload_files(list(paths))]
        if text:
            jobs.append((f'--text "{text[:30]}"', encode(text_delivery(text, sender))))
    except (ReplayError, InvalidIdentity, OSError) as error:
        raise click.UsageError(str(error)) from None

    if not verbose:
        logging.getLogger("optout").setLevel(logging.WARNING)
    post = _post_to_url(url) if url else _post_in_process(dry_run)
    masker = (lambda value: value or "-") if show_numbers else mask
    rows: list[Row] = []
    show_progress = len(jobs) >= PROGRESS_FROM
    with click.progressbar(jobs, label="replaying", file=sys.stderr if show_progress else _Silent()) as bar:
        for name, raw in bar:
            if now:
                try:
                    raw = encode(restamp(json.loads(raw)))
                except ValueError:
                    pass  # post it as it is: the webhook's answer says what is wrong
            status, answer = post(raw)
            rows.append(summarise(name, status, answer, masker))
    _print_table(rows, dry_run)
    if any(not row.ok for row in rows):
        sys.exit(1)


def _post_in_process(dry_run: bool):
    service = current.service()
    client = current_app.test_client()

    def post(raw: bytes):
        if dry_run:
            try:
                payload = json.loads(raw)
            except ValueError as error:
                return 400, {"error": f"body is not valid JSON: {error}"}
            if not isinstance(payload, dict):
                return 400, {"error": "body must be a JSON object"}
            result = service.handle(payload, dry_run=True)
            return 200, {"outcomes": [vars(outcome) for outcome in result.outcomes]}
        response = client.post("/webhook", data=raw, headers=_headers(raw, service.settings.app_secret))
        return response.status_code, response.get_json(silent=True) or {}
    return post


def _check_target(url: str, allow_remote: bool) -> None:
    """A replay signs with the configured (perhaps production) app secret: it goes to this
    machine unless --allow-remote says otherwise, and then with a warning."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"--url must be an http(s) URL such as http://127.0.0.1:8000, got {url!r}")
    if _is_loopback(parts.hostname):
        return
    if not allow_remote:
        raise click.UsageError(
            f"--url {parts.hostname} is not this machine: replay signs every delivery with this "
            "environment's app secret. Add --allow-remote if you mean it.")
    click.echo(f"warning: posting deliveries signed with this environment's app secret to {parts.hostname} "
               "(not this machine)", err=True)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it could resolve anywhere


def _post_to_url(url: str):
    target = url.rstrip("/")
    if not target.endswith("/webhook"):
        target += "/webhook"
    secret = current.service().settings.app_secret

    def post(raw: bytes):
        request = urllib.request.Request(target, data=raw, headers=_headers(raw, secret), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"{}")
            except ValueError:
                return error.code, {"error": error.reason}
        except (urllib.error.URLError, OSError) as error:
            return 0, {"error": f"could not reach {target}: {getattr(error, 'reason', error)}"}
    return post


class _Silent:
    """A stream for the progress bar of short runs: shows nothing."""
    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _headers(raw: bytes, secret: str) -> dict:
    return {"X-Hub-Signature-256": signature.sign(raw, secret), "Content-Type": "application/json"}


def _print_table(rows: list[Row], dry_run: bool) -> None:
    header = ("file", "HTTP", "messages (intent/language)", "suppression changes", "replies")
    lines = [(row.name, str(row.status or "-"), ", ".join(row.messages) or (row.error or "-"),
              "; ".join(row.changes + row.unchanged) or "-", str(row.replies)) for row in rows]
    widths = [min(56, max(len(header[i]), *(len(line[i]) for line in lines))) for i in range(5)]
    def fmt(cells):
        return "  ".join(cell[:widths[i]].ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()
    click.echo(fmt(header))
    click.echo(fmt(["-" * w for w in widths]))
    for line in lines:
        click.echo(fmt(line))
    refused = sum(not row.ok for row in rows)
    click.echo(
        f"\n{len(rows)} {'delivery' if len(rows) == 1 else 'deliveries'}, {refused} refused or failed, "
        f"{sum(len(r.changes) for r in rows)} suppression changes, "
        f"{sum(r.replies for r in rows)} replies {'would be ' if dry_run else ''}queued"
        + (" (dry run: nothing written or sent)" if dry_run else "")
    )
