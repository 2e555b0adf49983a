"""`flask keywords ...`: the staff keyword edits from the command line."""
from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from handlers import current
from handlers.cli.errors import ConfigGroup
from handlers.consent import undo as consent_undo
from handlers.detection.classify import format_explanation
from handlers.detection.intents import KEYWORD_INTENTS
from handlers.ops.tryit import try_message
from handlers.staff import audit, keyword_store
from handlers.staff.keyword_store import Change, KeywordError

INTENTS = click.Choice([intent.value for intent in KEYWORD_INTENTS])
MATCHES = click.Choice(["whole_message", "anywhere"])


def _service():
    """The app's service with the latest saved edits (another process may have made them)."""
    service = current.service()
    service.refresh(force=True)
    return service


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


actor_option = click.option("--actor", default=_default_actor, show_default="cli:<user>",
                            help="Who makes the change (for the audit log).")


@click.group("keywords", cls=ConfigGroup)
def keywords_group():
    """Keyword lists and reply texts.

    Staff edits are stored in the database over the shipped locales/*.toml files, are
    audited, and reach every worker within a second. INTENT is opt_out, opt_in or help;
    a keyword matches the whole message (default) or anywhere in it (--match anywhere).
    """


@keywords_group.command("list", short_help="Show the keywords in effect.")
@click.option("--language", help="Only this language (a code such as es).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def list_command(language, as_json):
    """Show the keywords in effect: the locale files plus staff edits."""
    locales = _service().locales
    if language and language not in locales:
        raise click.UsageError(f"unknown language {language!r} (known: {', '.join(sorted(locales))})")
    codes = [language] if language else sorted(locales)
    if as_json:
        click.echo(json.dumps({c: keyword_store.keyword_table(locales[c]) for c in codes}, ensure_ascii=False, indent=2))
        return
    for code in codes:
        click.echo(f"{code} ({locales[code].name})")
        for intent, kinds in keyword_store.keyword_table(locales[code]).items():
            for kind, words in kinds.items():
                if words:
                    click.echo(f"  {intent:8} {kind:14} {', '.join(words)}")


def _apply(op, language, intent, keyword, match, actor):
    service = _service()
    try:
        change = Change.parse(op, language, intent, keyword, match)
        entry = keyword_store.apply_change(service.db, service.file_locales, change, actor)
    except KeywordError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{op}: “{change.keyword}” {change.intent.value} ({change.match.value}) in {change.language} "
               f"— audit entry {entry}; every worker picks it up within a second.")


match_option = click.option("--match", type=MATCHES, default="whole_message", show_default=True,
                            help="whole_message: the keyword must be (nearly) all of the message; "
                                 "anywhere: a phrase that counts wherever it appears.")


@keywords_group.command("add", short_help="Add a keyword.")
@click.argument("language")
@click.argument("intent", type=INTENTS)
@click.argument("keyword")
@match_option
@actor_option
@with_appcontext
def add_command(language, intent, keyword, match, actor):
    """Add KEYWORD to LANGUAGE as INTENT, e.g. `flask keywords add es opt_out baja`."""
    _apply("add", language, intent, keyword, match, actor)


@keywords_group.command("remove", short_help="Remove a keyword.")
@click.argument("language")
@click.argument("intent", type=INTENTS)
@click.argument("keyword")
@match_option
@actor_option
@with_appcontext
def remove_command(language, intent, keyword, match, actor):
    """Remove KEYWORD from LANGUAGE's INTENT list."""
    _apply("remove", language, intent, keyword, match, actor)


@keywords_group.command("move", short_help="Move a keyword to the other match kind.")
@click.argument("language")
@click.argument("intent", type=INTENTS)
@click.argument("keyword")
@click.option("--to", "match", type=MATCHES, required=True, help="The match kind it moves to.")
@actor_option
@with_appcontext
def move_command(language, intent, keyword, match, actor):
    """Move KEYWORD of LANGUAGE's INTENT to whole-message or anywhere matching (--to)."""
    _apply("move", language, intent, keyword, match, actor)


@keywords_group.command("import", short_help="Make a language what a locale file says.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--language", help="The language, if the file does not say.")
@actor_option
@with_appcontext
def import_command(file, language, actor):
    """Make a language's keywords and replies what FILE (a locale .toml) says, as audited edits."""
    service = _service()
    try:
        ids = keyword_store.import_toml(service.db, service.file_locales, file.read_text("utf-8"), actor, language)
    except (KeywordError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: {error}; nothing was changed") from None
    click.echo(f"{file}: {len(ids)} change(s) saved" + (f" (audit entries {ids[0]}-{ids[-1]})" if ids else ""))


@keywords_group.command("export", short_help="Write the keywords in effect as locale files.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Write one <language>.toml per language into this folder (created if missing); default: print.")
@click.option("--language", help="Only this language (a code such as es).")
@with_appcontext
def export_command(out, language):
    """Write the keywords in effect back as locale files (e.g. to make them the new defaults)."""
    service = _service()
    locales = service.locales
    codes = [language] if language else sorted(locales)
    if language and language not in locales:
        raise click.UsageError(f"unknown language {language!r}")
    shipped = Path(service.settings.locales_dir)
    for code in codes:
        text = keyword_store.export_toml(locales[code], shipped / f"{code}.toml")
        if out:
            try:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{code}.toml").write_text(text, "utf-8")
            except OSError as error:
                raise click.ClickException(f"cannot write {out / f'{code}.toml'}: {error.strerror or error}") from None
            click.echo(f"wrote {out / f'{code}.toml'}")
        else:
            click.echo(f"# {code}.toml\n{text}")


@keywords_group.command("test", short_help="Show how a message would be classified.")
@click.argument("text")
@click.option("--from", "sender", help="The sender's number, e.g. +593991234567 (helps pick the reply language).")
@with_appcontext
def test_command(text, sender):
    """Show how TEXT is classified with the keywords in effect, and the reply it gets."""
    service = _service()
    result = try_message(service.db, service.classifier, text, sender)
    if result["number_error"]:
        raise click.UsageError(f"--from: {result['number_error']}")
    click.echo(format_explanation(result))


@keywords_group.command("reply", short_help="Set the reply text of a language and intent.")
@click.argument("language")
@click.argument("intent", type=INTENTS)
@click.argument("text")
@actor_option
@with_appcontext
def reply_command(language, intent, text, actor):
    """Set LANGUAGE's reply to INTENT messages to TEXT ("-" reads it from standard input).

    At most 4,096 characters; an unchanged text saves nothing.
    """
    if text == "-":
        text = sys.stdin.read()
    service = _service()
    try:
        entry = keyword_store.set_reply(service.db, service.file_locales, language, intent, text, actor)
    except KeywordError as error:
        raise click.ClickException(str(error)) from None
    if entry is None:
        click.echo(f"the {intent} reply in {language} is already that text; nothing saved")
    else:
        click.echo(f"saved the {intent} reply in {language} (audit entry {entry}); every worker uses it within a second")


@keywords_group.command("log", short_help="Show the audit log.")
@click.option("--limit", default=30, show_default=True, help="How many of the newest entries.")
@with_appcontext
def log_command(limit):
    """The audit log: who changed what, when, before and after (newest last)."""
    for entry in reversed(audit.entries(_service().db, limit)):
        undone = f"  (undone by #{entry['undone_by']})" if entry["undone_by"] else ""
        click.echo(f"#{entry['id']} {entry['at'][:19]} {entry['actor']} {entry['action']} {entry['target']}: "
                   f"{json.dumps(entry['before'], ensure_ascii=False)} -> "
                   f"{json.dumps(entry['after'], ensure_ascii=False)}{undone}")


@keywords_group.command("undo", short_help="Undo an audited change.")
@click.argument("entry_id", type=int)
@actor_option
@with_appcontext
def undo_command(entry_id, actor):
    """Put back what audit entry ENTRY_ID changed (keywords, replies, review decisions,
    consent by hand, imports)."""
    service = _service()
    try:
        new_id = consent_undo.undo(service.db, service.file_locales, entry_id, actor)
    except (KeywordError, audit.UndoError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"undone #{entry_id} (audit entry {new_id})")
    sys.stdout.flush()
