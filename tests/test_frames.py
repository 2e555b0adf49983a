"""Requests in people's own words: frames per language, the guards around them, spellings,
unspaced scripts, and the locale checks that keep frames editable by staff.

The tables are written by the team (like tests/corpus/*.tsv): each row is a message, the
intent it must get and how its rule must start, so a change that breaks one says which.
"""
from __future__ import annotations

import pytest

from handlers.detection.classify import Classifier, explain
from handlers.detection.intents import Intent, Match
from handlers.detection.locales import Locale, LocaleError, load_locales
from handlers.detection.normalize import normalize
from handlers.detection.segment import Segmenter
from tests.frame_checks import HELP, IN, NONE, OUT, ROOT, check

# --- a stop verb with an object, in each language's own word order ------------------------

@pytest.mark.parametrize("text, intent, rule", [
    ("Please quit texting me about sales", OUT, "frame:en:stop-verb+"),
    ("Could you stop spamming my phone", OUT, "anywhere:en:stop spamming"),
    ("Cancel all these promos", OUT, "frame:en:stop-verb+messages"),
    ("Paren de mandarme publicidad, gracias", OUT, "frame:es:stop-verb+"),
    ("Deixem de me mandar propaganda", OUT, "frame:pt:stop-verb+"),
    ("Cessez de m'écrire s'il vous plaît", OUT, "frame:fr:stop-verb+send-verb"),
    ("Hört bitte auf, mir Werbung zu schicken", OUT, "frame:de:hoer-verb+auf+send-verb"),
    ("Прекратите слать мне эти сообщения", OUT, "frame:ru:stop-verb+"),
    ("Мне писать перестаньте", OUT, "frame:ru:stop-verb+send-verb"),           # any order ("&")
    ("Припиніть надсилати мені рекламу", OUT, "anywhere:uk:припиніть надсилати"),
    ("Smettete di mandarmi offerte", OUT, "frame:it:stop-verb+"),
    ("Bana kampanya mesajı göndermeyi bırakın", OUT, "frame:tr:messages+stop-verb"),
    ("मुझे ऑफर भेजना बंद करो", OUT, "frame:hi:messages+stop-verb"),
    ("توقفوا عن إرسال العروض", OUT, "frame:ar:stop-verb+"),
    ("Tolong berhenti kirim promo ke nomor ini", OUT, "anywhere:id:berhenti kirim"),
    ("不要再给我发推广了", OUT, "frame:zh:negation+send-verb"),
    ("광고 그만 보내세요", OUT, "anywhere:ko:광고 그만"),
])
def test_a_stop_verb_with_its_object_is_an_opt_out(classifier, text, intent, rule):
    check(classifier, text, intent, rule, certain=True)


# --- removal, "no more", formal revocation ------------------------------------------------

@pytest.mark.parametrize("text, intent, rule", [
    ("Please wipe my phone number from your records", OUT, "frame:en:"),
    ("Get me off this list now", OUT, "frame:en:me+off+list"),
    ("Eliminen mis datos, gracias", OUT, "frame:es:remove-verb+my-number"),
    ("Tirem meu contato, por favor", OUT, "frame:pt:remove-verb+my-number"),
    ("Streichen Sie meine Nummer aus dem Verteiler", OUT, "frame:de:my-number+off+list"),
    ("Исключите мой номер, пожалуйста", OUT, "frame:ru:remove-verb+my-number"),
    ("Hapus nomor hp saya ya", OUT, "frame:id:remove-verb+my-number"),
    ("No more marketing texts please", OUT, "frame:en:no-more+messages"),
    ("Ya no quiero recibir nada de ustedes", OUT, "anywhere:es:ya no quiero recibir"),
    ("Chega dessas promoções", OUT, "frame:pt:"),
    ("Больше не присылайте ничего", OUT, "anywhere:ru:больше не присылайте"),
    ("Keine Angebote mehr bitte", OUT, "frame:de:no-more+messages+mehr"),
    ("I withdraw my permission to contact me", OUT, "frame:en:revoke-verb+consent"),
    ("Retiro mi autorización para comunicaciones comerciales", OUT, "frame:es:revoke-verb+consent"),
    ("Hiermit widerrufe ich meine Zustimmung", OUT, "frame:de:revoke-verb+consent"),
    ("Отзываю согласие на рассылку", OUT, "anywhere:ru:отзываю согласие"),
])
def test_removal_no_more_and_revocation_are_opt_outs(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


# --- the guards -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, intent, rule, certain", [
    # negation: of the stop verb, or of wanting to unsubscribe
    ("Don't stop sending me coupons, they're great", NONE, "negated:en:stop sending", True),
    ("No dejen de enviarme ofertas", NONE, "negated:es:", True),
    ("Não quero me descadastrar, só perguntei o preço", NONE, "negated:pt:", True),
    ("Ich will mich nicht abmelden, nur eine Frage", NONE, "negated:de:abmelden", True),
    ("Не прекращайте присылать акции", NONE, "negated:ru:stop-verb+", True),
    ("Sluta inte skicka erbjudanden", NONE, "negated:sv:", True),
    ("ऑफर भेजना बंद मत करो", NONE, "negated:hi:", True),
    # the request is about something else
    ("Can you stop my order? It's the wrong size", NONE, None, True),
    ("me quiero dar de baja del gimnasio, no de los mensajes", NONE, "other-object:es:gimnasio", True),
    ("Please remove the extra item from my order", NONE, None, True),
    ("Ich möchte mich vom Yogakurs abmelden", NONE, "other-object:de:*kurs", True),
    ("Quero cancelar minha assinatura da academia", NONE, "other-object:pt:", True),
    # quoting: a question about a keyword gets the help text; a story with one waits for a person
    ("What does 'reply STOP' mean?", HELP, "quoted:en:stop", True),
    ("Si respondo BAJA, ¿sigo recibiendo mis facturas?", HELP, "quoted:es:baja", True),
    ("Что будет, если я отправлю СТОП?", HELP, "quoted:ru:стоп", True),
    ("STOP yazarsam ne olur?", HELP, "quoted:tr:stop", True),
    ("My son texted STOP to his school lol", NONE, "quoted:en:stop", False),
    # a how-question asks for help
    ("How do I stop these texts?", HELP, "frame:en:how-question+", True),
    ("¿Cómo hago para darme de baja?", HELP, "frame:es:how-question+", True),
    ("Как отписаться от рассылки?", HELP, "frame:ru:how-question+", True),
    ("Wie melde ich mich von den Nachrichten ab?", HELP, "frame:de:how-question+melde-verb+me+ab", True),
])
def test_guards_keep_what_is_not_an_opt_out_out(classifier, text, intent, rule, certain):
    result = classifier.classify(text)
    assert result.intent is intent, result
    assert result.certain is certain, result
    if rule is None:
        assert result.rule is None or not result.rule.startswith(("frame", "anywhere", "whole")), result
    else:
        assert (result.rule or "").startswith(rule), result


@pytest.mark.parametrize("text", [
    "El precio es muy alto para mí", "Para quando chega o pedido?", "The end of the season sale is great",
    "Is the bus stop near you?", "Basta così la taglia?", "Хватит ли одной упаковки?", "Stopp mal, ist das gratis?",
    "Cukup gak ongkirnya?", "Досить гарний товар", "Dur bi saniye, bakıyorum",
])
def test_a_common_word_that_is_a_keyword_neither_opts_out_nor_floods_the_queue(classifier, text):
    result = classifier.classify(text)
    assert (result.intent, result.certain) == (NONE, True), result


# --- spelling, transliteration and code-mixing ---------------------------------------------

@pytest.mark.parametrize("text, intent, rule", [
    ("u guys need 2 stop txting me", OUT, "anywhere:en:stop texting me"),
    ("plz delete me frm ur system", OUT, "frame:en:"),
    ("no kiero mas msjs", OUT, "anywhere:es:no quiero más mensajes"),
    ("n qro mais receber", OUT, "anywhere:pt:não quero mais receber"),
    ("jveux plus recevoir vos pubs", OUT, "frame:fr:want-verb+plus+receive-verb"),
    ("bitte nich mehr schreiben", OUT, "anywhere:de:nicht mehr schreiben"),
    ("otpishite menya pozhalujsta", OUT, "whole_message:ru:отпишите меня"),
    ("bolshe ne pishite mne", OUT, "anywhere:ru:больше не пишите"),
    ("vidpyshit mene bud laska", OUT, "whole_message:uk:відпишіть мене"),
    ("mujhe offer mat bhejo", OUT, "frame:hi:negation+send-verb"),
    ("msg band karo", OUT, "anywhere:"),
    ("w2fo el rasayel", OUT, "frame:ar:stop-verb+messages"),
    ("mesh 3ayez rasayel", OUT, "frame:ar:negation+want-verb+messages"),
    ("jgn kirim2 pesan lg", OUT, "frame:id:negation+send-verb"),
    ("please stop, ya no me manden nada", OUT, "whole_message:es:no me manden nada"),
    ("Stop karo ye sab messages", OUT, "frame:"),
])
def test_internet_spelling_transliteration_and_code_mixing_are_read(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


# --- opt-in and help in sentences ----------------------------------------------------------

@pytest.mark.parametrize("text, intent, rule", [
    ("I hit STOP by accident, please keep texting me", IN, "frame:en:"),
    ("Yes, send me your weekly deals", IN, "frame:en:yes+send-verb+messages"),
    ("Por favor vuelvan a enviarme promociones", IN, "anywhere:es:vuelvan a enviarme"),
    ("Mandei PARAR sem querer, podem continuar mandando", IN, "anywhere:pt:podem continuar mandando"),
    ("Случайно нажал стоп, присылайте дальше", IN, "anywhere:ru:присылайте дальше"),
    ("Who is this?", HELP, "whole_message:en:who is this"),
    ("Which company are you from?", HELP, "anywhere:en:which company"),
    ("¿De dónde sacaron mi número?", HELP, "anywhere:es:de dónde sacaron mi número"),
    ("Woher habt ihr meine Nummer?", HELP, "anywhere:de:woher habt ihr meine nummer"),
    ("Что это за рассылка?", HELP, "anywhere:ru:что это за рассылка"),
    ("Ini dari perusahaan apa?", HELP, "anywhere:id:"),
])
def test_opt_in_and_help_in_sentences(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


# --- the new languages: native words, and "the whole message" without spaces -----------------

@pytest.mark.parametrize("text, intent, rule", [
    ("退订", OUT, "whole_message:zh:退订"),
    ("TD", OUT, "whole_message:zh:td"),
    ("退订谢谢", OUT, "whole_message:zh:退订"),
    ("配信停止", OUT, "whole_message:ja:配信停止"),
    ("配信停止でお願いします", OUT, "whole_message:ja:配信停止"),
    ("수신거부", OUT, "whole_message:ko:수신거부"),
    ("ยกเลิก", OUT, "whole_message:th:ยกเลิก"),
    ("ยกเลิกค่ะ", OUT, "whole_message:th:ยกเลิก"),
    ("Berhenti langgan", OUT, "whole_message:ms:berhenti langgan"),
    ("Itigil nyo na po", OUT, "anywhere:tl:itigil nyo na"),
    ("বন্ধ করুন", OUT, "whole_message:bn:বন্ধ করুন"),
    ("بند کریں", OUT, "whole_message:ur:بند کریں"),
    ("Acheni kunitumia ujumbe", OUT, "anywhere:sw:acheni kunitumia"),
    ("நிறுத்துங்கள்", OUT, "whole_message:ta:நிறுத்துங்கள்"),
    ("ఆపండి", OUT, "whole_message:te:ఆపండి"),
    ("停车场在哪里", NONE, ""),
    ("ร้านเปิดวันหยุดไหม", NONE, ""),
])
def test_new_languages_understand_their_own_opt_out_words(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


def test_unspaced_text_is_split_into_known_words_keeping_keywords_whole():
    segmenter = Segmenter(["送らないで", "送らないでください", "ください", "不要", "发"], ["送らないで"])
    assert segmenter.split(normalize("送らないでください")).tokens == ("送らないで", "ください")
    assert segmenter.split(normalize("请不要再发了")).tokens == ("请", "不要", "再", "发", "了")
    assert segmenter.split(normalize("TD退订")).tokens == ("td", "退订")


def test_a_frame_match_names_its_frame_for_the_cli_and_the_history(classifier):
    result = explain(classifier, "Перестаньте мне писать", wa_id="79161234567")
    assert result["intent"] == "opt_out"
    assert result["rule"] == "frame:ru:stop-verb+send-verb"
    assert result["keyword"] == "перестаньте … мне писать"
    assert result["language"] == "ru"


# --- how frames work, on a small in-code locale ------------------------------------------------

def _locale(words, frames, spelling=None, negations=("nope",), code="xx", mixing=()):
    keywords = {Intent.OPT_OUT: {Match.WHOLE: ["quitall"], Match.ANYWHERE: []},
                Intent.OPT_IN: {Match.WHOLE: ["joinall"], Match.ANYWHERE: []},
                Intent.HELP: {Match.WHOLE: ["aidall"], Match.ANYWHERE: []}}
    return Locale(code, code, [], ["pls"], list(negations), keywords,
                  {Intent.OPT_OUT: "a", Intent.OPT_IN: "b", Intent.HELP: "c"},
                  spelling=dict(spelling or {}), words=words, frames=frames, code_mixing=list(mixing))


def test_frames_keep_order_with_plus_and_any_order_with_ampersand():
    words = {"halt-verb": ["halt*"], "mail": ["mails", "*post"], "me": ["me"]}
    ordered = Classifier({"xx": _locale(words, {"opt_out": ["halt-verb + mail"]})}, "xx")
    assert ordered.classify("please halting the mails").rule == "frame:xx:halt-verb+mail"
    assert ordered.classify("the mails halt").intent is NONE
    assert ordered.classify("halt the spampost").intent is OUT                       # a suffix stem
    free = Classifier({"xx": _locale(words, {"opt_out": ["halt-verb & mail"]})}, "xx")
    assert free.classify("the mails halt").rule == "frame:xx:halt-verb+mail"


def test_a_frame_spans_at_most_its_gap_and_one_sentence():
    words = {"halt-verb": ["halt"], "mail": ["mails"]}
    classifier = Classifier({"xx": _locale(words, {"opt_out": ["halt-verb + mail", "mail + halt-verb (gap 0)"]})}, "xx")
    assert classifier.classify("halt aa bb cc mails").intent is OUT                 # three words between
    assert classifier.classify("halt aa bb cc dd mails").intent is NONE             # four
    assert classifier.classify("halt. mails").intent is NONE                        # another sentence
    assert classifier.classify("mails halt").intent is OUT
    assert classifier.classify("mails x halt").intent is NONE                       # its own gap: 0


def test_a_comma_after_a_part_lets_its_clause_end_there():
    words = {"yes": ["yes"], "send-verb": ["send"]}
    strict = Classifier({"xx": _locale(words, {"opt_in": ["yes + send-verb"]})}, "xx")
    assert strict.classify("yes, send").intent is NONE
    lenient = Classifier({"xx": _locale(words, {"opt_in": ["yes, + send-verb"]})}, "xx")
    assert lenient.classify("yes, send").intent is IN


def test_a_negation_part_must_negate_the_next_verb_and_other_negations_guard():
    words = {"halt-verb": ["halt"], "send-verb": ["send"], "me": ["me"]}
    frames = {"opt_out": ["negation + send-verb + me", "halt-verb + send-verb"]}
    classifier = Classifier({"xx": _locale(words, frames)}, "xx")
    assert classifier.classify("nope send me").rule == "frame:xx:negation+send-verb+me"
    assert classifier.classify("nope halt send me").rule == "negated:xx:halt-verb+send-verb"


def test_spellings_are_read_in_their_own_language_only():
    words = {"halt-verb": ["halt"], "mail": ["mails"]}
    xx = _locale(words, {"opt_out": ["halt-verb + mail"]}, spelling={"hlt": "halt", "n": "nope"})
    yy = _locale({"other": ["thing"]}, {}, code="yy", negations=("never",))
    classifier = Classifier({"xx": xx, "yy": yy}, "xx")
    assert classifier.classify("hlt mails").rule == "frame:xx:halt-verb+mail"
    assert classifier.classify("n hlt mails").intent is NONE                        # "n" negates in xx


def test_code_mixed_words_fill_at_most_half_a_frame():
    xx = _locale({"halt-verb": ["halte"], "mail": ["mels"]}, {"opt_out": ["halt-verb + mail"]}, mixing=("zz",))
    zz = _locale({"halt-verb": ["stap"], "mail": ["mailz"]}, {}, code="zz")
    classifier = Classifier({"xx": xx, "zz": zz}, "xx")
    assert classifier.classify("halte mailz").rule == "frame:xx:halt-verb+mail"     # one word of zz
    assert classifier.classify("stap mailz").intent is NONE                         # no word of xx


def test_a_long_class_word_with_one_typo_makes_an_uncertain_frame():
    words = {"halt-verb": ["discontinue"], "mail": ["mails"]}
    classifier = Classifier({"xx": _locale(words, {"opt_out": ["halt-verb + mail"]})}, "xx")
    result = classifier.classify("discontinoe mails")
    assert (result.intent, result.rule, result.certain) == (OUT, "frame:xx:halt-verb+mail", False)


# --- locale files: frames are checked at start-up with file and line -------------------------

VALID = '''language = "xx"
name = "Test"
negations = ["nope"]
code_mixing = ["en"]
[opt_out]
whole_message = ["quit"]
reply = "bye"
[opt_in]
whole_message = ["join"]
reply = "hi"
[help]
whole_message = ["aid"]
reply = "help"
[spelling]
kwit = "quit"
[words]
stop-verb = ["halt", "cease*"]
messages = ["mails"]
[frames]
max_gap = 3
objects = ["messages"]
opt_out = ["stop-verb + messages"]
'''


@pytest.mark.parametrize("change, message", [
    (('opt_out = ["stop-verb + messages"]', 'opt_out = ["stop-verb + mesages"]'),
     "line 22: [frames] opt_out: 'stop-verb + mesages': no word class 'mesages' in [words]"),
    (('opt_out = ["stop-verb + messages"]', 'opt_out = ["stop-verb + messages & messages"]'),
     "line 22: [frames] opt_out: 'stop-verb + messages & messages': use '+'"),
    (('opt_out = ["stop-verb + messages"]', 'opt_out = ["negation & messages"]'),
     "line 22: [frames] opt_out: 'negation & messages': a frame with a negation gives its order with '+'"),
    (('opt_out = ["stop-verb + messages"]', 'opt_out = ["stop-verb"]'), "a frame has 2 to 4 parts"),
    (('opt_out = ["stop-verb + messages"]', 'opt_out = ["stop-verb + messages,"]'),
     "a comma goes after a part that another part follows"),
    (('cease*', 'ce*'), "line 17: [words] stop-verb: 'ce*': a stem is one word of at least 3 letters"),
    (('cease*', 'ce*ase'), "'ce*ase': '*' goes only at the start or the end of a word"),
    (('messages = ["mails"]', 'messages = []'), "line 18: [words] messages is empty"),
    (('stop-verb = [', 'Stop_Verb = ['), "[words] 'Stop_Verb' is not a usable class name"),
    (('kwit = "quit"', 'kwit = "KWIT!"'), "line 15: [spelling] 'kwit' = 'KWIT!': both are the same word"),
    (('max_gap = 3', 'max_gap = 12'), "line 20: [frames] max_gap must be a whole number from 0 to 8"),
    (('objects = ["messages"]', 'objects = ["mails"]'), "line 21: [frames] objects: no word class 'mails'"),
    (('code_mixing = ["en"]', 'code_mixing = ["xx"]'), "line 4: code_mixing: 'xx' must be another language"),
    (('[frames]', '[frame]'), "unknown field 'frame'"),
    (('max_gap = 3', 'max_gap = 3\nhelp_me = ["a + b"]'), "[frames]: unknown field 'help_me'"),
    (('max_gap = 3', 'max_gap = 3\nquoting = ["stop-verb + messages"]'),
     "[frames] quoting: 'stop-verb + messages': a quoting frame names the keyword it quotes with '@opt_out'"),
])
def test_a_broken_frame_or_spelling_names_file_line_and_problem(tmp_path, change, message):
    old, new = change
    assert old in VALID
    (tmp_path / "xx.toml").write_text(VALID.replace(old, new, 1), "utf-8")
    with pytest.raises(LocaleError) as error:
        load_locales(tmp_path)
    assert message in str(error.value)
    assert str(error.value).startswith("xx.toml")


def test_the_valid_example_loads_and_works(tmp_path):
    (tmp_path / "xx.toml").write_text(VALID, "utf-8")
    locale = load_locales(tmp_path)["xx"]
    classifier = Classifier({"xx": locale}, "xx")
    assert classifier.classify("please cease these mails").rule == "frame:xx:stop-verb+messages"
    assert classifier.classify("kwit").rule == "whole_message:xx:quit"


def test_every_shipped_locale_has_frames_and_the_buttons_file_is_not_a_locale():
    locales = load_locales(ROOT / "locales")
    assert len(locales) >= 32
    assert {"ms", "tl", "bn", "ur", "sw", "th", "zh", "ja", "ko", "ta", "te"} <= set(locales)
    for locale in locales.values():
        assert locale.frames.get("opt_out"), locale.code
        assert locale.words, locale.code
