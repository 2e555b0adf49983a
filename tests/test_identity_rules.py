"""Issue 11, part 2: the canonical key, rule by rule (consent/numbers.py), and the README's table of them.

Pure: no database. The same rules through HTTP, per country, are in test_identity.py.
"""
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.consent.numbers import RULES, Kind, Unreadable, display, readings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
EXAMPLES = [(rule.name, written, keys) for rule in RULES for written, keys in rule.examples]


@pytest.mark.parametrize("rule,written,keys", EXAMPLES, ids=[f"{r}:{w}" for r, w, _ in EXAMPLES])
def test_every_example_of_the_rule_table_reads_as_it_says(rule, written, keys):
    assert readings(written).keys == keys


def test_readme_lists_every_rule_with_its_forms_and_key():
    table = README[README.index("| rule | country | one person | canonical key |"):]
    table = table[:table.index("\n\n")]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:4]
    assert list(rows) == [rule.name for rule in RULES]
    for rule in RULES:
        assert rows[rule.name] == [rule.country, rule.forms, rule.key], rule.name


# -- per country ----------------------------------------------------------------------------


@pytest.mark.parametrize("written,key", [
    ("5215512345678", "525512345678"),          # as WhatsApp reports a Mexican mobile
    ("+52 1 55 1234 5678", "525512345678"),
    ("525512345678", "525512345678"),           # as the business holds it
    ("+52 (55) 1234-5678", "525512345678"),
    ("52155123456789", "52155123456789"),       # 14 digits: no Mexican number, left as it is
])
def test_mexico_521_and_52_are_one_number(written, key):
    assert readings(written).keys == (key,)


@pytest.mark.parametrize("written,key", [
    ("5491112345678", "541112345678"),          # WhatsApp's form
    ("541112345678", "541112345678"),           # 54 + 10 (a landline looks the same)
    ("+54 11 15 1234-5678", "541112345678"),    # national form with the mobile 15
    ("+54 (011) 15-1234-5678", "541112345678"),  # ... and the trunk 0
    ("+54 9 11 15 1234 5678", "541112345678"),  # both the 9 and the 15
    ("+54 221 15 412-3456", "542214123456"),    # a three-digit area code (La Plata)
    ("5492214123456", "542214123456"),
])
def test_argentina_549_54_and_15_are_one_number(written, key):
    assert readings(written).keys == (key,)


@pytest.mark.parametrize("written,key", [
    ("551187654321", "5511987654321"),          # an account from before the ninth digit
    ("+55 11 8765-4321", "5511987654321"),
    ("5511987654321", "5511987654321"),
    ("551132654321", "551132654321"),           # a landline (2-5): no ninth digit
    ("552132654321", "552132654321"),
])
def test_brazil_mobiles_with_and_without_the_ninth_digit_are_one_number(written, key):
    assert readings(written).keys == (key,)


@pytest.mark.parametrize("written,keys", [
    ("22507123456", ("2250707123456",)),        # Orange mobile
    ("22545123456", ("2250545123456",)),        # MTN mobile
    ("22541123456", ("2250141123456",)),        # Moov mobile
    ("22520212345", ("2252720212345",)),        # Orange landline
    ("22520012345", ("2252520012345",)),        # MTN landline (third digit 0)
    ("22520812345", ("2252120812345",)),        # Moov landline (third digit 8)
    ("2250707123456", ("2250707123456",)),      # already 10 digits
    ("22599123456", ("22599123456", "2250799123456", "2250599123456", "2250199123456")),  # no known operator
])
def test_ivory_coast_8_digit_numbers_are_their_10_digit_numbers(written, keys):
    assert readings(written).keys == keys


@pytest.mark.parametrize("written,keys", [
    ("8 916 123-45-67", ("79161234567",)),      # Russia, 8 for 7
    ("+7 916 123-45-67", ("79161234567",)),
    ("8 (701) 123 45 67", ("77011234567",)),    # Kazakhstan
    ("84912345678", ("84912345678", "74912345678")),   # a Vietnamese mobile, or Ryazan written with 8
    ("81234567890", ("81234567890",)),          # 8 then 1: not a Russian or Kazakh number
])
def test_russia_and_kazakhstan_8_is_7(written, keys):
    assert readings(written).keys == keys


def test_a_trunk_zero_after_the_country_code_goes_unless_numbers_begin_with_zero_there():
    assert readings("+44 (0)20 7946 0018").keys == ("442079460018",)
    assert readings("+39 06 1234 5678").keys == ("390612345678",)   # Rome keeps its 0


@pytest.mark.parametrize("written,kind,key", [
    ("US.13491208655302741918", Kind.USER_ID, "US.13491208655302741918"),
    ("US.ENT.11815799212886844830", Kind.USER_ID, "US.ENT.11815799212886844830"),   # a parent id
    ("us.ent.11815799212886844830", Kind.USER_ID, "US.ENT.11815799212886844830"),
    ("BR." + "a1" * 64, Kind.USER_ID, "BR." + "a1" * 64),                           # 128 characters
    ("whatsapp:+14155550123", Kind.PHONE, "14155550123"),
    ("\u200e+52 55 1234 5678\u200f", Kind.PHONE, "525512345678"),                  # marks pasted with a number
    ("٥٢١٥٥١٢٣٤٥٦٧٨", Kind.PHONE, "525512345678"),                                  # Arabic-Indic digits
    ("not-a-number", Kind.OTHER, "not-a-number"),
])
def test_user_ids_and_odd_forms(written, kind, key):
    found = readings(written)
    assert (found.kind, found.canonical) == (kind, key)


@pytest.mark.parametrize("value", ["", "   ", None, True, 3.5, ["1"], {"wa_id": "1"}])
def test_only_nothing_at_all_is_unreadable(value):
    with pytest.raises(Unreadable):
        readings(value)


@settings(deadline=None)  # the phone-number library loads a country's metadata on first use
@given(st.text(min_size=1, max_size=60).filter(lambda text: text.strip()))
def test_no_written_form_is_ever_refused(text):
    found = readings(text)
    assert found.canonical and found.written


@settings(deadline=None)
@given(st.from_regex(r"\+?[0-9 ()\-.]{1,30}", fullmatch=True).filter(lambda text: re.search(r"\d", text)))
def test_numbers_always_read_as_digits_and_keep_every_reading_digits(text):
    found = readings(text)
    assert found.kind is Kind.PHONE and all(key.isdigit() for key in found.keys)


def test_display_formats_numbers_it_knows_and_leaves_the_rest():
    assert display("525512345678") == "+52 55 1234 5678"
    assert display("5215512345678") == "+5215512345678"
    assert display("US.13491208655302741918") == "US.13491208655302741918"


@pytest.mark.parametrize("label,marketing_only", [
    ("Stop promotions", True), ("STOP PROMOTIONS", True), ("Detener promociones", True), ("Parar promoções", True),
    ("Arrêter les promotions", True), ("Promosyonları durdur", True), ("Oprește promoțiile", True),
    ("STOP", False), ("Unsubscribe", False), ("Stop", False), (None, False),
])
def test_the_stop_promotions_button_is_known_in_our_languages(label, marketing_only):
    from handlers.whatsapp.parse import is_stop_promotions_label
    assert is_stop_promotions_label(label) is marketing_only
