"""Staff keyword edits: validation, merge over the files, audit and undo, reload across workers."""
import pytest

from handlers.delivery.service import Service
from handlers.detection.intents import Intent, Match
from handlers.staff import audit, keyword_store
from handlers.staff.keyword_store import Change, KeywordError
from tests.admin_client import add_keyword, ensure_absent


def change(op, keyword, intent="opt_out", match="whole_message", language="es"):
    return Change.parse(op, language, intent, keyword, match)


def apply(service, op, keyword, **kwargs):
    entry = keyword_store.apply_change(service.db, service.file_locales, change(op, keyword, **kwargs), "ana")
    service.refresh(force=True)
    return entry


def test_added_keyword_classifies_at_once(service):
    ensure_absent(service, "es", "bajita")
    assert service.classifier.classify("bajita").intent is Intent.NONE
    apply(service, "add", "bajita")
    assert service.classifier.classify("BAJITA").intent is Intent.OPT_OUT


def test_removed_keyword_no_longer_classifies(service):
    add_keyword(service, "es", "opt_out", "bajita")
    apply(service, "remove", "bajita")
    assert service.classifier.classify("bajita").intent is Intent.NONE


def test_files_stay_the_shipped_defaults(service, settings):
    before = {p.name: p.read_bytes() for p in __import__("pathlib").Path(settings.locales_dir).glob("*.toml")}
    add_keyword(service, "es", "opt_out", "bajita")
    after = {p.name: p.read_bytes() for p in __import__("pathlib").Path(settings.locales_dir).glob("*.toml")}
    assert before == after


@pytest.mark.parametrize("op,keyword,intent,match,message", [
    ("add", "", "opt_out", "whole_message", "empty"),
    ("add", "   \t ", "opt_out", "whole_message", "empty"),
    ("add", "x" * 201, "opt_out", "whole_message", "longer than"),
    ("add", "bajita", "opt_in", "whole_message", "cannot mean both"),
    ("add", "BAJITA", "help", "anywhere", "cannot mean both"),
    ("add", "bajita", "opt_out", "whole_message", "already"),
    ("remove", "nunca-visto", "opt_out", "whole_message", "is not"),
    ("add", "hola", "maybe", "whole_message", "unknown intent"),
    ("add", "hola", "opt_out", "somewhere", "unknown match"),
])
def test_invalid_keyword_is_refused_and_nothing_saved_is_lost(service, op, keyword, intent, match, message):
    add_keyword(service, "es", "opt_out", "bajita")
    saved = keyword_store.keyword_table(service.locales["es"])
    version = keyword_store.config_version(service.db)
    with pytest.raises(KeywordError, match=message):
        keyword_store.apply_change(service.db, service.file_locales,
                                   Change.parse(op, "es", intent, keyword, match), "ana")
    service.refresh(force=True)
    assert keyword_store.keyword_table(service.locales["es"]) == saved
    assert keyword_store.config_version(service.db) == version


def test_unknown_language_is_refused(service):
    with pytest.raises(KeywordError, match="unknown language 'xx'"):
        keyword_store.apply_change(service.db, service.file_locales, change("add", "hola", language="xx"), "ana")


@pytest.mark.parametrize("reply,message", [
    ("", "no text"), ("   \n ", "no text"), ("a" * 4097, "at most 4096"), (None, "no text"),
])
def test_invalid_reply_is_refused_and_the_saved_reply_kept(service, reply, message):
    keyword_store.set_reply(service.db, service.file_locales, "es", "opt_out", "Listo, sin marketing.", "ana")
    with pytest.raises(KeywordError, match=message):
        keyword_store.set_reply(service.db, service.file_locales, "es", "opt_out", reply, "ana")
    service.refresh(force=True)
    assert service.classifier.reply_text(Intent.OPT_OUT, "es") == "Listo, sin marketing."


def test_reply_of_exactly_4096_characters_is_accepted(service):
    keyword_store.set_reply(service.db, service.file_locales, "es", "help", "a" * 4096, "ana")
    service.refresh(force=True)
    assert service.classifier.reply_text(Intent.HELP, "es") == "a" * 4096


def test_move_between_whole_message_and_anywhere(service):
    add_keyword(service, "es", "opt_out", "bajita")
    assert service.classifier.classify("la casa bajita del centro").intent is Intent.NONE
    apply(service, "move", "bajita", match="anywhere")
    table = keyword_store.keyword_table(service.locales["es"])["opt_out"]
    assert "bajita" in table["anywhere"] and "bajita" not in table["whole_message"]
    assert service.classifier.classify("la casa bajita del centro").intent is Intent.OPT_OUT


def test_every_edit_is_audited_with_before_and_after(service):
    ensure_absent(service, "es", "bajita")
    entry = apply(service, "add", "bajita")
    row = audit.entries(service.db)[0]
    assert row["id"] == entry and row["actor"] == "ana" and row["action"] == "keyword.add"
    assert row["before"] == {"language": "es", "keyword": "bajita", "placements": []}
    assert row["after"]["placements"] == [{"intent": "opt_out", "match": "whole_message"}]


def test_undo_puts_the_keyword_back_and_can_itself_be_undone(service):
    add_keyword(service, "es", "opt_out", "bajita")
    removal = apply(service, "remove", "bajita")
    undo_id = keyword_store.undo(service.db, service.file_locales, removal, "ana")
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent is Intent.OPT_OUT
    with pytest.raises(KeywordError, match="already undone"):
        keyword_store.undo(service.db, service.file_locales, removal, "ana")
    keyword_store.undo(service.db, service.file_locales, undo_id, "ana")
    service.refresh(force=True)
    assert service.classifier.classify("bajita").intent is Intent.NONE


def test_undo_of_a_reply_edit_restores_the_previous_text(service):
    keyword_store.set_reply(service.db, service.file_locales, "es", "help", "Primera.", "ana")
    second = keyword_store.set_reply(service.db, service.file_locales, "es", "help", "Segunda.", "ana")
    keyword_store.undo(service.db, service.file_locales, second, "ana")
    service.refresh(force=True)
    assert service.classifier.reply_text(Intent.HELP, "es") == "Primera."


def test_edits_survive_a_restart(settings, service):
    add_keyword(service, "es", "opt_out", "bajita")
    restarted = Service(settings)
    try:
        assert restarted.classifier.classify("bajita").intent is Intent.OPT_OUT
    finally:
        restarted.close()


def test_an_edit_in_one_worker_reaches_another_on_its_next_check(settings):
    from dataclasses import replace
    fast = replace(settings, config_poll_seconds=0)
    first, second = Service(fast), Service(fast)
    try:
        ensure_absent(first, "es", "bajita")
        assert second.classifier.classify("bajita").intent is Intent.NONE
        keyword_store.apply_change(first.db, first.file_locales, change("add", "bajita"), "ana")
        assert second.classifier.classify("bajita").intent is Intent.OPT_OUT
    finally:
        first.close()
        second.close()


def test_a_worker_reads_the_version_at_most_once_per_poll_interval(settings, monkeypatch):
    from dataclasses import replace
    worker = Service(replace(settings, config_poll_seconds=3600))
    try:
        reads = []
        original = keyword_store.config_version
        monkeypatch.setattr(keyword_store, "config_version", lambda db: reads.append(1) or original(db))
        for _ in range(20):
            worker.classifier.classify("hola")
        assert reads == []
    finally:
        worker.close()


def test_export_writes_the_merged_keywords_and_import_reads_them_back(service, tmp_path):
    add_keyword(service, "es", "opt_out", "bajita", Match.ANYWHERE)
    keyword_store.set_reply(service.db, service.file_locales, "es", "help", "Escribe BAJITA.", "ana")
    service.refresh(force=True)
    text = keyword_store.export_toml(service.locales["es"])
    assert "bajita" in text and "Escribe BAJITA." in text
    apply(service, "remove", "bajita", match="anywhere")
    keyword_store.import_toml(service.db, service.file_locales, text, "ana")
    service.refresh(force=True)
    assert "bajita" in keyword_store.keyword_table(service.locales["es"])["opt_out"]["anywhere"]


def test_import_of_a_conflicting_file_changes_nothing(service):
    add_keyword(service, "es", "opt_out", "bajita")
    version = keyword_store.config_version(service.db)
    bad = 'language = "es"\n[opt_in]\nwhole_message = ["bajita"]\n[opt_out]\nwhole_message = ["bajita"]\n'
    with pytest.raises(KeywordError, match="cannot mean both"):
        keyword_store.import_toml(service.db, service.file_locales, bad, "ana")
    assert keyword_store.config_version(service.db) == version


def test_stored_inbound_messages_stay_bounded(service, monkeypatch):
    from handlers.staff import impact
    from handlers.storage.db import transaction
    monkeypatch.setattr(impact, "KEEP_MESSAGES", 30)
    monkeypatch.setattr(impact, "PRUNE_EVERY", 10)
    with transaction(service.db):
        for n in range(100):
            impact.remember(service.db, f"wamid.KEEP{n}", "14155550123", (f"hello {n}",), "none", None)
    count = service.db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
    assert 30 <= count < 40
    newest = service.db.execute("SELECT max(message_id) FROM inbound_messages").fetchone()[0]
    assert newest == "wamid.KEEP99"
