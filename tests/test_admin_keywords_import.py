"""The keywords page (one save per reply, errors that keep the text, counter, right-to-left
boxes, plain words, the preview's promises), an expired session on the preview, the CSV
import's rules (web and command line) and the command line's one-line errors."""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.consent import importer
from handlers.consent.identity import InvalidIdentity
from handlers.detection.intents import Intent
from handlers.testing import payloads
from tests.admin_client import STAFF_PASSWORD, Admin, add_keyword, csrf_token, ensure_absent

PROJECT = Path(__file__).resolve().parent.parent


def _box(html: str, intent: str) -> str:
    return html.split(f'id="reply-{intent}"')[1].split("</textarea>")[0].split(">", 1)[1]


def test_saving_one_reply_keeps_the_unsaved_edits_of_the_others(admin, service):
    saved_in = service.locales["es"].replies[Intent.OPT_IN]
    page = admin.post("/admin/replies", {"language": "es", "save": "help", "reply_help": "Escribe BAJA.",
                                         "reply_opt_out": "Listo, sin marketing (borrador).", "reply_opt_in": saved_in})
    assert page.status_code == 200
    assert "Saved the help reply in Spanish (Español)" in page.text
    assert _box(page.text, "opt_out") == "Listo, sin marketing (borrador)."
    assert "not saved" in page.text.split('id="reply-opt_out"')[0].rsplit("<label", 1)[1]
    service.refresh(force=True)
    assert service.locales["es"].replies[Intent.HELP] == "Escribe BAJA."
    assert service.locales["es"].replies[Intent.OPT_OUT] != "Listo, sin marketing (borrador)."


@pytest.mark.parametrize("typed,message", [("", "has no text"), ("x" * 5000, "is 5000 characters")])
def test_a_refused_reply_keeps_the_typed_text_beside_its_box(admin, service, typed, message):
    before = service.locales["es"].replies[Intent.OPT_OUT]
    page = admin.post("/admin/replies", {"language": "es", "save": "opt_out", "reply_opt_out": typed})
    assert page.status_code == 400
    assert _box(page.text, "opt_out") == typed            # not the old text, not cut at 4,096
    after_box = page.text.split('id="reply-opt_out"')[1]
    assert message in after_box.split("</button>")[0]      # the error sits with its box
    if typed:
        assert "5,000 of 4,096 characters: 904 too many" in after_box
    assert service.locales["es"].replies[Intent.OPT_OUT] == before


def test_reply_boxes_have_a_counter_and_no_silent_cut(admin):
    html = admin.get("/admin/keywords?language=es").text
    box = html.split('id="reply-opt_out"')[0].rsplit("<textarea", 1)[1] + html.split('id="reply-opt_out"')[1].split(">")[0]
    assert "maxlength" not in box and 'data-limit="4096"' in box
    assert re.search(r'id="reply-opt_out-count">[\d,]+ of 4,096 characters', html)


@pytest.mark.parametrize("language,direction", [("ar", "rtl"), ("he", "rtl"), ("fa", "rtl"), ("es", "ltr")])
def test_reply_boxes_are_right_to_left_for_arabic_hebrew_and_farsi(admin, language, direction):
    html = admin.get(f"/admin/keywords?language={language}").text
    for intent in ("opt_out", "opt_in", "help"):
        tag = html.split(f'id="reply-{intent}"')[1].split(">")[0]
        assert f'dir="{direction}"' in tag and f'lang="{language}"' in tag


def test_keywords_page_uses_language_names_and_plain_messages(admin, service):
    ensure_absent(service, "es", "bajita")
    html = admin.get("/admin/keywords?language=es").text
    assert ">Spanish (Español)</option>" in html and ">Arabic (العربية)</option>" in html
    assert "a opt_out keyword" not in html
    saved = admin.post("/admin/keywords/save", {"op": "add", "language": "es", "intent": "opt_out", "keyword": "bajita",
                                                "match": "whole_message"}, follow=True).text
    assert "Saved: added “bajita” as an opt-out keyword (whole message) in Spanish (Español)." in saved
    assert ">Undo</button>" in saved
    assert 'aria-label="Remove “bajita” (opt-out, whole message)"' in saved


def test_a_refused_keyword_keeps_what_was_typed(admin, service):
    add_keyword(service, "es", "opt_out", "bajita")
    page = admin.post("/admin/keywords/preview", {"op": "add", "language": "es", "intent": "help",
                                                  "keyword": "bajita", "match": "anywhere"})
    assert page.status_code == 400 and "cannot mean both help and opt-out" in page.text
    field = page.text.split('id="add-keyword"')[1].split(">")[0]
    assert 'value="bajita"' in field and 'aria-invalid="true"' in field
    assert '<option value="help" selected>' in page.text and '<option value="anywhere" selected>' in page.text


def test_preview_hints_when_the_keyword_is_in_the_other_match_kind(admin, service):
    add_keyword(service, "es", "opt_out", "bajita", "anywhere")
    html = admin.post("/admin/keywords/preview", {"op": "add", "language": "es", "intent": "opt_out",
                                                  "keyword": "bajita", "match": "whole_message"}).text
    hint = html.split('id="other-kind-hint"')[1].split("</p>")[0]
    assert "already an opt-out keyword matched anywhere in the message" in hint and "move" in hint


def test_preview_says_exactly_what_saving_will_and_will_not_do(admin, service, post):
    ensure_absent(service, "es", "alto")
    post(payloads.of_messages(payloads.text("El precio es muy alto", wa_id="593990000001")))
    html = admin.post("/admin/keywords/preview", {"op": "add", "language": "es", "intent": "opt_out",
                                                  "keyword": "alto", "match": "anywhere"}).text
    promises = " ".join(re.sub(r"<[^>]+>", " ", html.split('id="what-saving-does"')[1].split("</div>")[0]).split())
    assert "Saving will change how new messages are read" in promises
    assert "Saving will not touch anything that already happened: the 1 messages listed below keep" in promises
    assert "nobody is opted out or back in because of them" in promises and "review items" in promises


def test_an_expired_session_on_the_preview_says_so_and_keeps_the_change(app, staff_account, service):
    ensure_absent(service, "es", "bajita")
    browser = app.test_client()   # a tab whose session cookie has expired: no session at all
    page = browser.post("/admin/keywords/save", data={"csrf_token": "from-the-old-session", "op": "add",
                                                      "language": "es", "intent": "opt_out", "keyword": "bajita",
                                                      "match": "whole_message", "try_text": "BAJITA"})
    assert page.status_code == 401 and "You were logged out" in page.text
    assert "Add “bajita” as opt-out (whole message) in Spanish" in page.text
    next_url = re.search(r'name="next" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert next_url.startswith("/admin/keywords/preview?") and "keyword=bajita" in next_url
    login = browser.post("/admin/login", data={"csrf_token": csrf_token(page.text), "name": "ana",
                                               "password": STAFF_PASSWORD, "next": next_url})
    assert login.headers["Location"] == next_url
    preview = browser.get(next_url).text
    assert "Preview: add “bajita”" in preview and 'id="save-form"' in preview
    assert service.classifier.classify("bajita").intent is Intent.NONE    # kept, not saved


def test_an_expired_session_while_saving_a_reply_shows_the_text(app, staff_account):
    page = app.test_client().post("/admin/replies", data={"csrf_token": "old", "language": "ar", "save": "help",
                                                          "reply_help": "اكتب إلغاء"})
    assert page.status_code == 401 and "You were logged out" in page.text and "اكتب إلغاء" in page.text


@pytest.mark.parametrize("raw,wa_id", [
    ("tel:+1 (415) 555-0123", "14155550123"), ("'593991234567", "593991234567"), ("+593 99-123-4567", "593991234567"),
    ("(593) 99 123 4567", "593991234567"), ("+593 99–123 4567", "593991234567"), ('="14155550123"', "14155550123"),
    ("00 593 99 123 4567", "593991234567"),
])
def test_import_accepts_common_number_decorations(raw, wa_id):
    assert importer.clean_number(raw) == wa_id


@pytest.mark.parametrize("raw", ["not-a-number", "", "ext. 12"])
def test_import_rejects_what_is_not_a_number(raw):
    with pytest.raises(InvalidIdentity):
        importer.clean_number(raw)


@pytest.mark.parametrize("value,expected", [
    ("2025-03-01", "2025-03-01T00:00:00.000000Z"), ("1 March 2025", "2025-03-01T00:00:00.000000Z"),
    ("March 1, 2025", "2025-03-01T00:00:00.000000Z"), ("31/01/2025", "2025-01-31T00:00:00.000000Z"),
    ("2025/03/01", "2025-03-01T00:00:00.000000Z"), ("1 de marzo de 2025", "2025-03-01T00:00:00.000000Z"),
    ("03/01/2025", None), ("yesterday", None), ("2999-01-01", None),
])
def test_import_reads_the_dates_it_can_and_never_guesses(value, expected):
    if expected is None:
        with pytest.raises(ValueError):
            importer.parse_date(value)
    else:
        assert importer.parse_date(value) == expected


MESSY = (b"phone;date;reason\n"
         b"tel:+1 (415) 555-0123;yesterday;old provider\n"
         b"'593991234567;03/01/2025;\n"
         b"+593 99-123-4568;1 March 2025;\n"
         b"not a number;2025-01-01;\n"
         b"+593 99-123-4568;;again\n")


def test_a_file_too_big_for_one_request_is_refused_whole_with_the_way_to_import_it(admin, read_db):
    from handlers.web.admin_import import PAGE_IMPORT_ROWS
    big = "wa_id\n" + "".join(f"1415{n:07d}\n" for n in range(PAGE_IMPORT_ROWS + 1))
    page = admin.client.post("/admin/import", data={"csrf_token": admin.token,
                                                    "file": (io.BytesIO(big.encode()), "big.csv")})
    assert page.status_code == 413
    assert "Nothing was imported" in page.text and "suppressions import big.csv" in page.text
    assert read_db("SELECT count(*) AS n FROM consent_events") == [{"n": 0}]


def test_a_messy_import_from_the_page_keeps_every_readable_number(admin, read_db):
    page = admin.client.post("/admin/import", data={"csrf_token": admin.token, "file": (io.BytesIO(MESSY), "old.csv")})
    assert page.status_code == 200
    report = page.text.split('id="import-report"')[1]
    assert 'id="count-added">3<' in report and 'id="count-dates-unknown">2<' in report
    assert 'id="count-rejected">1<' in report and "<code>not a number</code>" in report   # unmasked, for them
    assert read_db("SELECT count(*) AS n FROM suppressions WHERE suppressed = 1") == [{"n": 3}]
    assert read_db("SELECT action, target, after FROM audit_log")[0]["action"] == "import"
    rejected = re.search(r'href="(/admin/import/\d+/rejected.csv)"', report).group(1)
    download = admin.get(rejected)
    assert download.status_code == 200 and "not a number" in download.text and "problem" in download.text.splitlines()[0]


def test_rejected_rows_are_only_for_the_staff_member_who_imported(admin, app, service, read_db):
    from handlers.staff import accounts
    admin.client.post("/admin/import", data={"csrf_token": admin.token, "file": (io.BytesIO(MESSY), "old.csv")})
    entry = read_db("SELECT id FROM audit_log WHERE action = 'import'")[0]["id"]
    accounts.add(service.db, "luis", "another long password")
    other = Admin(app.test_client())
    other.login(name="luis", password="another long password")
    assert other.get(f"/admin/import/{entry}/rejected.csv").status_code == 403


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args, input=None: runner.invoke(args=list(args), input=input)


def test_keywords_reply_sets_a_reply_and_an_unchanged_one_saves_nothing(cli, service, read_db):
    result = cli("keywords", "reply", "es", "help", "Escribe BAJA para salir.")
    assert result.exit_code == 0 and "saved the help reply in es" in result.output
    service.refresh(force=True)
    assert service.locales["es"].replies[Intent.HELP] == "Escribe BAJA para salir."
    again = cli("keywords", "reply", "es", "help", "Escribe BAJA para salir.")
    assert "nothing saved" in again.output
    assert read_db("SELECT count(*) AS n FROM audit_log") == [{"n": 1}]
    too_long = cli("keywords", "reply", "es", "help", "x" * 4097)
    assert too_long.exit_code == 1 and "at most 4096" in too_long.output and "Traceback" not in too_long.output


def test_export_to_a_missing_folder_is_a_one_line_error(cli, tmp_path):
    result = cli("suppressions", "export", "--out", str(tmp_path / "missing" / "list.csv"))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: the folder {tmp_path / 'missing'} does not exist: create it first, or choose another --out"


def _flask(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("WHATSAPP_", "OPTOUT_", "ADMIN_TOKEN", "FLASK_"))}
    return subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "app", *args], cwd=PROJECT,
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)


def test_help_works_without_configuration_and_commands_say_what_is_missing(tmp_path):
    helped = _flask("keywords", "--help")
    assert helped.returncode == 0 and "Traceback" not in helped.stderr
    assert "reply   Set the reply text of a language and intent." in helped.stdout
    assert "..." not in helped.stdout.split("Commands:")[1]   # no help line cut mid-sentence
    listed = _flask("keywords", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    lines = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, ADMIN_TOKEN not set" in lines[0]
