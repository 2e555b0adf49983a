"""Detection engine: keywords, normalisation, reply language, locale validation, corpus accuracy."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from handlers.detection.classify import Classifier, explain, format_explanation
from handlers.detection.intents import Intent, Match
from handlers.detection.locales import Locale, LocaleError, load_locales
from handlers.detection.normalize import normalize, normalize_text, squeeze
from handlers.ops.accuracy import evaluate, is_right, load_corpus

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
CORPUS = load_corpus(ROOT / "tests" / "corpus")


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_locales(load_locales(LOCALES), default_language="en")


# --- the corpus ------------------------------------------------------------------------

@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.where)
def test_corpus_message_gets_its_labelled_intent(classifier, case):
    result = classifier.classify(case.text)
    assert is_right(case, result), result


def test_corpus_is_large_varied_and_one_third_tricky():
    languages = {case.language for case in CORPUS}
    non_opt_outs = [c for c in CORPUS if c.intent is Intent.NONE]
    assert len(CORPUS) >= 400
    assert languages == set(load_locales(LOCALES))
    assert len(non_opt_outs) * 3 >= len(CORPUS)
    assert {c.intent for c in CORPUS} == set(Intent)


def test_corpus_recall_is_complete_and_no_false_opt_outs(classifier):
    report = evaluate(classifier, CORPUS)
    assert report.recall == 1.0, [(c.where, c.text) for c, r in report.wrong_intent if c.intent is Intent.OPT_OUT]
    assert report.false_opt_out_rate == 0.0
    assert report.passes


def test_remembered_classification_is_the_same_as_reading_afresh(classifier):
    """The webhook remembers what it read of short texts; asked twice, in any order, it says
    what classify() says, and a text past the remembered length is read each time."""
    texts = [case.text for case in CORPUS]
    first = [classifier.classify_remembered(text) for text in texts]
    again = [classifier.classify_remembered(text) for text in reversed(texts)][::-1]
    assert first == again == [classifier.classify(text) for text in texts]
    long_text = "Where is my order? " * 20 + "Stop sending me these messages."
    assert classifier.classify_remembered(long_text) == classifier.classify(long_text)
    assert classifier.classify_remembered(long_text).intent is Intent.OPT_OUT


def test_the_memory_of_short_texts_keeps_its_bound(classifier, monkeypatch):
    """Least recently used out past its size; a short text that normalises long (U+FDFA is 18
    letters) is read each time rather than kept, so no sender can make the memory large."""
    from handlers.detection import classify as classify_module
    monkeypatch.setattr(classify_module, "REMEMBERED_TEXTS", 5)
    for n in range(12):
        classifier.classify_remembered(f"order {n} arrived, thanks")
    assert len(classifier._remembered) == 5
    assert "order 11 arrived, thanks" in classifier._remembered
    long_when_read = "\ufdfa" * 190
    assert len(classifier.classify(long_when_read).normalized) > 200
    assert classifier.classify_remembered(long_when_read) == classifier.classify(long_when_read)
    assert long_when_read not in classifier._remembered


# --- rules and certainty ------------------------------------------------------------------

@pytest.mark.parametrize("text, intent, rule, language, certain", [
    ("STOP", Intent.OPT_OUT, "whole_message:en:stop", None, True),
    ("baja", Intent.OPT_OUT, "whole_message:es:baja", "es", True),
    ("Quiero darme de baja", Intent.OPT_OUT, "whole_message:es:darme de baja", "es", True),
    ("Hola, quiero darme de baja de esta lista ya mismo", Intent.OPT_OUT, "anywhere:es:darme de baja", "es", True),
    ("Я хочу отписаться от всего этого", Intent.OPT_OUT, "anywhere:ru:отписаться", "ru", True),
    ("STPO", Intent.OPT_OUT, "typo:en:stop", None, False),
    ("unsubscibe me now", Intent.OPT_OUT, "typo:en:unsubscribe", None, False),  # also in id.toml
    ("Don't stop!", Intent.NONE, "negated:en:stop", None, False),
    ("No quiero darme de baja", Intent.NONE, "negated:es:darme de baja", "es", False),
    ("Can I stop by tomorrow?", Intent.NONE, None, None, True),
    ("El precio es muy alto", Intent.NONE, None, None, True),
    ("What are your opening hours?", Intent.NONE, None, None, True),
    ("", Intent.NONE, None, None, True),
    ("🙂🙂", Intent.NONE, None, None, True),
    ("START", Intent.OPT_IN, "whole_message:en:start", None, True),
    ("ALTA", Intent.OPT_IN, "whole_message:es:alta", "es", True),
    ("ayuda", Intent.HELP, "whole_message:es:ayuda", "es", True),
    ("stop start", Intent.OPT_OUT, "whole_message:en:stop", None, False),
])
def test_classification_names_rule_language_and_certainty(classifier, text, intent, rule, language, certain):
    result = classifier.classify(text)
    assert (result.intent, result.rule, result.language, result.certain) == (intent, rule, language, certain)


@pytest.mark.parametrize("text, intent, rule, certain", [
    # a keyword in capitals opening a message otherwise written is a clause of its own
    ("BAJA las promociones diario", Intent.OPT_OUT, "clause:es:baja", True),
    ("STOP STOP STOP how many times do i have to say it", Intent.OPT_OUT, "frame:en:@opt_out+said-again", True),
    ("STOP أرجوك", Intent.OPT_OUT, "clause:en:stop", False),      # beside words no rule reads: applied, reviewed
    ("BAJA ya no quiero nada", Intent.OPT_OUT, "clause:es:baja", True),
    # ... but not when a negation in capitals leads, in a question, or as a question about STOP
    ("DONT stop sending me deals", Intent.NONE, "negated:en:stop sending", True),
    ("BAJA California tiene envíos?", Intent.NONE, None, True),
    ("STOP लिखने से क्या होगा?", Intent.HELP, "quoted:hi:stop", True),
    ("STOP by the store tomorrow?", Intent.NONE, None, True),
])
def test_capitals_opening_a_message(classifier, text, intent, rule, certain):
    result = classifier.classify(text)
    assert (result.intent, result.rule, result.certain) == (intent, rule, certain)


@pytest.mark.parametrize("text, intent", [
    ("stop sending me loan offers", Intent.OPT_OUT),        # the other object names what the offers are about
    ("stop the insurance ads please", Intent.OPT_OUT),
    ("Can you stop sending the package to my old address?", Intent.NONE),   # it is what is sent
    ("cancel my order", Intent.NONE),
    # across a comma the messages word starts another thought: the plan is still what is cancelled
    ("Cancel my premium subscription, the messages I want to keep getting", Intent.NONE),
    ("תבטלו לי את המנוי הפרימיום, את ההודעות אני רוצה להמשיך לקבל", Intent.NONE),
    ("תבטלו לי את המנוי הפרימיום את ההודעות", Intent.OPT_OUT),
])
def test_another_object_naming_the_messages_does_not_guard(classifier, text, intent):
    assert classifier.classify(text).intent is intent


@pytest.mark.parametrize("text", [
    "ما ابي اوقف الرسايل",                     # I don't want to stop the messages
    "mesajları durdurmanızı istemiyorum",     # I don't want you to stop the messages
    "sitaki kuacha kupokea ofa",              # I don't want to stop receiving offers
    "I dont want to stop the messages",
])
def test_a_frame_does_not_pass_over_a_stop_verb_that_turns_it_around(classifier, text):
    assert classifier.classify(text).intent is Intent.NONE


@pytest.mark.parametrize("text, intent", [
    ("Premium aboneliği iptal edin ama mesajlar gelsin", Intent.OPT_IN),     # the messages may come
    ("Mau berhenti langganan premium tapi pesannya tetap kirim ya", Intent.OPT_IN),
    ("Chci zrušit objednávku, ale akce mi posílejte dál", Intent.NONE),
    # a request after the "but" is a request all the same
    ("nice deals but stop sending me messages", Intent.OPT_OUT),
    ("no molesten más con sus promos", Intent.OPT_OUT),      # "más" (more) is no Spanish "but"
])
def test_a_frame_does_not_reach_across_but(classifier, text, intent):
    assert classifier.classify(text).intent is intent


@pytest.mark.parametrize("text, intent, rule, certain", [
    # a request under a condition, in a question that asks what would follow: no request
    ("Dacă mă dezabonez de la newsletter, pierd punctele de fidelitate?", Intent.NONE, "condition:ro:daca", True),
    ("Si me doy de baja, ¿pierdo mis puntos?", Intent.NONE, "condition:es:si", True),
    ("Dacă mă dezabonez de la newsletter?", Intent.OPT_OUT, "anywhere:ro:mă dezabonez", True),  # nothing asked after
    ("Dacă mă dezabonez de la newsletter, pierd punctele de fidelitate", Intent.OPT_OUT,      # no question
     "anywhere:ro:mă dezabonez", True),
    # polite requests: the condition a clause of its own, or nothing asked in a clause after the request
    ("If possible, could you stop sending me these offers every day?", Intent.OPT_OUT, "anywhere:en:stop sending",
     True),
    ("si pueden dejar de mandarme mensajes todos los días?", Intent.OPT_OUT, "frame:es:stop-verb+messages", True),
    ("Si vous pouviez arrêter de m'envoyer ces messages tous les jours ?", Intent.OPT_OUT,
     "frame:fr:stop-verb+messages", True),
    # an opt-in asked about is no opt-in either; a threat verb that is the request itself is no threat
    ("If I subscribe again, do I get the discount?", Intent.NONE, "condition:en:if", True),
    ("If possible, could you add me back to the list?", Intent.OPT_IN, "frame:en:join-verb+list", True),
    ("Если случайно заблокирую номер, баллы сгорят?", Intent.HELP, "quoted:ru:заблокирую", True),
    ("Если не прекратите, заблокирую", Intent.OPT_OUT, "frame:ru:one-more+report-verb", True),
    # what follows asked first, in the same sentence: "what happens if ..."
    ("¿Qué pasa si bloqueo este número sin querer? ¿me siguen llegando las notificaciones del pedido?",
     Intent.NONE, "condition:es:si", True),
    ("Que se passe-t-il si je me désabonne ?", Intent.NONE, "condition:fr:si", True),
    # colloquial "que si pueden ..." asks (no word between the "que" and the "si")
    ("Oigan, que si pueden dejar de mandarme mensajes?", Intent.OPT_OUT, "frame:es:stop-verb+messages", True),
])
def test_a_request_under_a_condition_asked_about_is_none(classifier, text, intent, rule, certain):
    result = classifier.classify(text)
    assert (result.intent, result.rule, result.certain) == (intent, rule, certain)


@pytest.mark.parametrize("text, intent, rule", [
    # another language's request around a loanword quoting frame ("STOP" + "send" is Hindi,
    # Italian, Turkish... for "send STOP"), with no word of the frame's language it lacks
    ("Stop send me message", Intent.OPT_OUT, "anywhere:en:stop send me"),
    ("stop send me messages pls", Intent.OPT_OUT, "anywhere:en:stop send me"),
    # the frame's own words are there: still a mention
    ("STOP bhejne se kya mera account bhi band ho jayega?", Intent.HELP, "quoted:hi:stop"),
    ("what happens if I send STOP?", Intent.HELP, "quoted:en:stop"),
])
def test_a_loanword_quoting_frame_gives_way_to_the_request_around_it(classifier, text, intent, rule):
    result = classifier.classify(text)
    assert (result.intent, result.rule) == (intent, rule)


@pytest.mark.parametrize("text, intent, rule, certain", [
    # a keyword clause before a complaint about another object: a person looks
    ("Enough already, second time you sent the wrong size. I want a refund", Intent.NONE, "partial:en:enough already",
     False),
    ("Stop, I never signed up for your list", Intent.OPT_OUT, "clause:en:stop", True),
    ("Wrong number. STOP", Intent.OPT_OUT, "clause:en:stop", True),
    # a "this" the locale also lists as messages points at the object named ("das" = das Paket)
    ("Mir stinkt's, das Paket ist schon wieder nicht da", Intent.NONE, "partial:de:mir stinkts", False),
    ("Mir stinkt's, das hört jetzt auf", Intent.OPT_OUT, "clause:de:mir stinkts", True),
])
def test_a_keyword_clause_before_a_complaint_about_another_object_waits_for_a_person(classifier, text, intent,
                                                                                     rule, certain):
    result = classifier.classify(text)
    assert (result.intent, result.rule, result.certain) == (intent, rule, certain)


@pytest.mark.parametrize("text, intent, rule", [
    ("istri suruh saya unsub semua wkwk tapi promo kalian bagus", Intent.NONE, "reported:en:unsubscribe"),
    ("mijn dochter zegt dat ik me overal moet afmelden haha", Intent.NONE, "reported:nl:afmelden"),
    ("karım her yerden abonelikten çık diyor ama indirimleriniz güzel", Intent.NONE, "reported:tr:list+leave-verb"),
    # "I told you so many times" in a clause after the request is no one else's words
    ("Tolong berhenti kirim pesan, saya sudah suruh berkali-kali", Intent.OPT_OUT, "anywhere:id:berhenti kirim"),
])
def test_a_request_in_someone_elses_words_waits_for_a_person(classifier, text, intent, rule):
    result = classifier.classify(text)
    assert (result.intent, result.rule) == (intent, rule)
    assert result.certain is (intent is Intent.OPT_OUT)


@pytest.mark.parametrize("text, intent", [
    # Arabizi "la" (no) and Greeklish "mi" (don't) in Latin-letter messages of other languages
    ("Por favor me envíe la factura por email", Intent.NONE),
    ("mandatemi la fattura via email", Intent.NONE),
    ("envoyez-moi la facture par mail", Intent.NONE),
    ("trimiteți-mi factura pe email", Intent.NONE),
    # ... while Arabizi, Hinglish and Tagalog requests stay requests
    ("la tb3tli rasayel", Intent.OPT_OUT),
    ("mat bhejo msg", Intent.OPT_OUT),
    ("pakitigil na po ang pag-send ng messages sa akin", Intent.OPT_OUT),
])
def test_a_romanised_frame_needs_a_message_of_its_language(classifier, text, intent):
    assert classifier.classify(text).intent is intent


@pytest.mark.parametrize("text, intent, certain", [
    # a question in another sentence does not hold a stop sentence back
    ("Why do you keep sending these? Stop", Intent.OPT_OUT, True),
    ("रोज़ रोज़ मैसेज क्यों भेजते हो? बंद करो", Intent.OPT_OUT, True),
    ("STOP?", Intent.OPT_OUT, True),                       # the keyword alone, whatever its mark
    # "why do you keep sending" complains; "can you start sending again?" asks to resume
    ("why do you keep sending these?", Intent.NONE, False),
    ("Can you start sending me offers again?", Intent.OPT_IN, True),
    # only a why/who word of the request's own language doubts it ("j'ai" is no Vietnamese "ai")
    ("J'ai envoyé STOP par erreur, vous pouvez me réinscrire ?", Intent.OPT_IN, True),
    ("Per ongeluk STOP gestuurd, kunnen jullie me weer aanmelden?", Intent.OPT_IN, True),
])
def test_questions_hold_back_only_their_own_sentence(classifier, text, intent, certain):
    result = classifier.classify(text)
    assert (result.intent, result.certain) == (intent, certain)


@pytest.mark.parametrize("text, intent", [
    # a negated request that is the condition of a threat asks to stop
    ("Si no dejan de mandarme mensajes los voy a denunciar", Intent.OPT_OUT),
    ("Si vous ne m'enlevez pas de votre liste je porte plainte", Intent.OPT_OUT),
    # a negation opening its clause forbids, and a negated report verb threatens nothing
    ("I will not report you, but please don't stop the deals", Intent.NONE),
    # Arabic and Hebrew write "and", "so", "with", "to" onto the next word
    ("فاحذفوا رقمي لو سمحتم", Intent.OPT_OUT),
    ("ותפסיקו לשלוח לי הודעות", Intent.OPT_OUT),
    ("ולהסיר את המספר שלי", Intent.OPT_OUT),
    ("ولدي يحب العروض", Intent.NONE),
    # an other-object joined to the messages by a short word names them ("the sending of ads")
    ("Solicito que cesen el envío de publicidad a este número", Intent.OPT_OUT),
    ("Cancelen el envío de mi pedido", Intent.NONE),
    ("stop the delivery of my order", Intent.NONE),
    # a code-mixed frame needs a message at least as much its own language's
    ("What happens if I reply STOP? Will it cancel my account too?", Intent.HELP),   # not Polish "to" (it)
    ("Proszę unsubscribe mnie", Intent.OPT_OUT),
    ("please remove mera number", Intent.OPT_OUT),
    # another language's frame meets the other objects of the language the message is more of
    ("me cancelan la cuenta también?", Intent.NONE),          # a Portuguese frame, a Spanish account
    ("Qué pasa si respondo BAJA? me cancelan la cuenta también?", Intent.HELP),
    ("LINEの配信を解除したい", Intent.OPT_OUT),                # counted in Latin-letter words only
    # a negation after a verb negates it only in its clause: "नहीं चाहिए" (not wanted) says more
    ("भाई साहब, रोज़ के मैसेज बंद कर दो, नहीं चाहिए", Intent.OPT_OUT),
    ("रोज़ के मैसेज बंद मत करो", Intent.NONE),
    ("stop niet met sturen", Intent.NONE),
    # an English frame in a message that is more Dutch is negated in Dutch
    ("Stop niet met die deals hoor, ik kijk er elke week naar uit", Intent.NONE),
    ("stop sending me promos, no quiero nada", Intent.OPT_OUT),
    # a keyword several languages share meets the other objects of the languages the message is
    # as much of: not the German "*karte" (card) in Hinglish "karte"
    ("aap log roz msg karte ho, pls band kro", Intent.OPT_OUT),
    ("Stop, meine Karte ist gesperrt", Intent.NONE),
    ("stop mi pedido", Intent.NONE),
    # a word the request's own language reads as a verb is no other language's object, nor is
    # an accent-folded word of a language the message is less of (Vietnamese "món")
    ("Non mandate più niente a questo numero", Intent.OPT_OUT),
    ("Annulez mon inscription", Intent.OPT_OUT),
    ("I want to cancel my subscription to the gym", Intent.NONE),
    # a reported-speech word of a language the message is less of reports nothing (Bengali "bole")
    ("bole tak jangan hantar lagi", Intent.OPT_OUT),
    # the messages in the next sentence do not name the other object of this one
    ("كيف ألغي اشتراك البريميوم؟ الرسائل خلوها توصل", Intent.NONE),
])
def test_threats_proclitics_objects_of_the_messages_and_code_mixing(classifier, text, intent):
    assert classifier.classify(text).intent is intent


@pytest.mark.parametrize("text, certain", [
    # someone else's advice, refused by the sender's own negation after it: no person need look
    ("Suami suruh unsubscribe wkwk tapi gak deh", True),
    ("Meri wife bolti hai unsubscribe kar do haha, par nahi karunga", True),
    ("I typed stop in the search and nothing came up", True),
    # not refused: a person decides
    ("my wife keeps telling me to unsubscribe", False),
])
def test_a_reported_or_mentioned_request_the_sender_refuses_is_certainly_nothing(classifier, text, certain):
    result = classifier.classify(text)
    assert (result.intent, result.certain) == (Intent.NONE, certain)


@pytest.mark.parametrize("text, intent, certain", [
    # a polite word closing a sentence belongs to the clause before it, as it would alone
    ("Como assim todo dia isso? Para, por favor", Intent.OPT_OUT, True),
    ("Franchement, un message par jour... stop, merci", Intent.OPT_OUT, True),
    ("Para, por favor", Intent.OPT_OUT, True),
    # one opening a sentence stays apart: its "no" does not negate what follows
    ("No gracias, prefiero no recibir estas promociones", Intent.OPT_OUT, True),
    ("Hola, para el pedido 123, por favor", Intent.NONE, True),
    # a keyword clause before words that are no request waits for a person; a typo-like
    # word ("precio", not "preciso") makes no request
    ("Basta, qué precio jaja 😂 ¿es real?", Intent.NONE, False),
    # nor does a "this" in a question after it: this price, not these messages
    ("¡Para! ¿Es real este precio?", Intent.NONE, False),
    ("STOP! Why do you keep sending this?", Intent.OPT_OUT, True),
    # only words of the keyword's language, or of languages mixing with it, name the messages
    ("Para! Esse preço é real?", Intent.NONE, False),      # the folded "é" is no Vietnamese "me"
    # in a question after it only the messages, a list, the number or sending make a request
    ("Arrête!! c'est vraiment ce prix là ?? 😱", Intent.NONE, False),
    ("Хватит! Это правда такая цена?", Intent.NONE, False),   # "это" (this), listed as messages too
    ("Stop! Is this real?", Intent.NONE, False),
    ("stop, reklama ne nuzhna", Intent.OPT_OUT, True),     # Russian mixes English in
])
def test_a_closing_filler_joins_the_clause_before_it(classifier, text, intent, certain):
    result = classifier.classify(text)
    assert (result.intent, result.certain) == (intent, certain)


@pytest.mark.parametrize("text, intent", [
    # polite requests in the past tense
    ("I would appreciate it if you stopped contacting me", Intent.OPT_OUT),
    ("I would be grateful if you took me off your list", Intent.OPT_OUT),
    ("Agradecería si dejan de enviarme mensajes", Intent.OPT_OUT),   # "si" is "if" here, not "sí"
    ("I would appreciate it if you took a look at my complaint", Intent.NONE),
    ("I would appreciate it if you stopped the delivery until Monday", Intent.NONE),
])
def test_polite_requests_in_the_past_tense(classifier, text, intent):
    assert classifier.classify(text).intent is intent


def test_the_greek_question_mark_asks(classifier):
    result = classifier.classify("αν στείλω STOP θα σταματήσουν και οι λογαριασμοί\u037e")
    assert (result.intent, result.rule) == (Intent.HELP, "quoted:el:stop")


def test_capitals_heading_ends_where_a_word_not_in_capitals_starts():
    from handlers.detection.normalize import capitals_heading_end
    assert capitals_heading_end("STOP ya") == 4
    assert capitals_heading_end("STOP!! 😡 ما أبي") == 6
    assert capitals_heading_end("STOP") is None                 # nothing follows: the whole message
    assert capitals_heading_end("Stop it") is None              # not in capitals
    assert capitals_heading_end("A B C stop") is None           # one letter is no word in capitals
    assert capitals_heading_end("STOP STOP STOP STOP STOP now") is None   # too many to be a heading
    assert normalize("STOP ya", heading=True).clauses == (0, 1)
    assert normalize("STOP ya").clauses == (0, 0)


def test_keyword_is_reported_as_written_in_the_locale_file(classifier):
    result = classifier.classify("Não quero mais receber mensagens")
    assert result.keyword == "não quero mais receber"
    assert result.normalized == "nao quero mais receber mensagens"


@pytest.mark.parametrize("text", ["shop", "step", "top", "Stop by", "alta", "Hello"])
def test_ordinary_words_near_a_keyword_are_not_typos(classifier, text):
    assert classifier.classify(text).intent is not Intent.OPT_OUT


@pytest.mark.parametrize("text", ["Wie kann ich mich anmelden?", "Ich möchte mich anmelden"])
def test_a_real_keyword_of_another_intent_is_never_a_typo_of_an_opt_out(classifier, text):
    assert classifier.classify(text).intent is not Intent.OPT_OUT


def test_sentence_punctuation_keeps_a_no_from_negating_the_keyword(classifier):
    assert classifier.classify("No. STOP").intent is Intent.OPT_OUT
    assert classifier.classify("no stop").intent is Intent.NONE


@pytest.mark.parametrize("text", ["STOP " * 13, "BAJA " * 15, "стоп " * 15, "Stop stop stop " * 10, "退订 " * 20])
def test_a_keyword_repeated_any_number_of_times_is_still_just_the_keyword(classifier, text):
    result = classifier.classify(text)
    assert (result.intent, result.certain) == (Intent.OPT_OUT, True), result


def test_a_long_message_of_one_repeated_ordinary_word_stays_ordinary(classifier):
    assert classifier.classify("please " * 20 + "tell me the price").intent is Intent.NONE


# --- normalisation -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Stop!!", "stop"),
    ("🛑STOP", "stop"),
    ("ＳＴＯＰ", "stop"),
    ("Stoooop", "stop"),
    ("S T O P", "stop"),
    ("S.T.O.P.", "stop"),
    ("  stop   please  ", "stop please"),
    ("cтoп", "стоп"),            # Latin c and o among Cyrillic letters
    ("CTOП", "стоп"),
    ("Ёлка", "елка"),
    ("Désabonnez-moi", "desabonez moi"),
    ("NO MÁS", "no mas"),
    ("İPTAL", "iptal"),
    ("Çıkış", "cikis"),
    ("Don't", "dont"),
    ("إلغاء الاشتراك", "الغاء الاشتراك"),
    ("सदस्यता रद्द करें", "सदस्यता रद्द करें"),   # Devanagari vowel signs stay
    ("Hủy đăng ký", "huy đang ky"),
    ("Đừng gửi nữa", "đung gui nua"),            # đ is a letter of its own: "đừng" (don't) is not "dừng" (stop)
    ("광고 그만ㅡㅡ", "광고 그만"),               # Hangul letters typed after a word are an emoticon
    ("좋아요ㅋㅋㅋ", "좋아요"),
])
def test_normalisation_folds_what_customers_vary(text, expected):
    assert normalize_text(text) == expected


def test_normalisation_records_clause_breaks():
    assert normalize("No, stop").clauses == (0, 1)
    assert normalize("no stop").clauses == (0, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
@example("GOLOUT")   # "go|lo|out" shares the o
def test_any_text_classifies_without_error(text):
    classifier = _SHARED_CLASSIFIER
    result = classifier.classify(text)
    assert isinstance(result.intent, Intent)
    # words are split apart (unspaced scripts, words typed joined), nothing else changes;
    # a letter shared by two joined words ("stop|please" typed "stoplease") counts once
    assert squeeze(result.normalized.replace(" ", "")) == squeeze(normalize_text(text).replace(" ", ""))


_SHARED_CLASSIFIER = Classifier.from_locales(load_locales(LOCALES))


# --- reply language ----------------------------------------------------------------------

@pytest.mark.parametrize("text, wa_id, last_language, expected", [
    ("baja", "14155550100", "en", "es"),                  # the keyword's own language wins
    ("стоп", None, None, "en"),                             # ru and uk share it; no number -> default
    ("стоп", "74951234567", None, "ru"),                   # Russian number
    ("стоп", "380441234567", None, "uk"),                  # Ukrainian number
    ("STOP", "593991234567", None, "es"),                  # Ecuador
    ("STOP", "4915112345678", None, "de"),
    ("STOP", "5511987654321", None, "pt"),
    ("STOP", None, "pt", "pt"),                            # last known language
    ("STOP", "not-a-phone", None, "en"),                   # non-phone user id -> default
    ("STOP", "999", "fr", "fr"),
    ("¿Cuándo llega mi pedido a Quito?", "14155550100", None, "es"),        # langdetect, 3+ words
    ("Bonjour, je voudrais savoir quand arrive ma commande", None, "en", "fr"),
    ("stop please", None, None, "en"),                     # two words: langdetect never decides
    # a match Hindi and Urdu share, in Latin letters: langdetect's Swahili or Indonesian guess
    # is none of them, and the number's country decides
    ("mujhe aur msg mat bhejo", "919811100008", None, "hi"),
    ("msg band karo yaar", "919811200004", None, "hi"),
    ("msg band karo yaar", "923001234567", None, "ur"),
])
def test_reply_language_follows_the_chain(classifier, text, wa_id, last_language, expected):
    result = classifier.classify(text)
    assert classifier.reply_language(result, text, wa_id, last_language) == expected


@pytest.mark.parametrize("text", ["стоп", "baja", "STOP", "stop please", "hola amigo"])
def test_langdetect_never_decides_one_or_two_words(classifier, text, monkeypatch):
    from handlers.detection import language

    def fail(_text):
        raise AssertionError("langdetect called for a short message")
    monkeypatch.setattr(language, "detect_langs", fail)
    assert classifier.reply_language(classifier.classify(text), text, None, None) in classifier.languages


def test_reply_language_is_repeatable(classifier):
    text = "Quando vai sair o meu pedido?"
    answers = {classifier.reply_language(classifier.classify(text), text, None, None) for _ in range(5)}
    assert answers == {"pt"}


def test_reply_text_falls_back_to_default_language(classifier):
    assert classifier.reply_text(Intent.OPT_OUT, "es").startswith("Listo")
    assert classifier.reply_text(Intent.OPT_OUT, "xx") == classifier.reply_text(Intent.OPT_OUT, "en")


def test_explain_gives_everything_the_cli_prints(classifier):
    result = explain(classifier, "Baja por favor", wa_id="593991234567")
    assert result == {"intent": "opt_out", "rule": "whole_message:es:baja", "keyword": "baja",
                      "normalized": "baja por favor", "language": "es", "certain": True,
                      "reply": classifier.reply_text(Intent.OPT_OUT, "es")}
    text = format_explanation(result)
    assert "rule:        whole_message:es:baja" in text
    assert explain(classifier, "hello there")["reply"] is None


# --- locales -------------------------------------------------------------------------------

REQUIRED_LANGUAGES = {"en", "es", "pt", "ru", "uk", "fr", "de", "it", "tr", "ar", "hi", "id", "nl", "pl"}


def test_shipped_locales_cover_the_required_languages():
    locales = load_locales(LOCALES)
    assert len(locales) >= 20
    assert REQUIRED_LANGUAGES <= set(locales)
    for locale in locales.values():
        assert all(0 < len(locale.replies[i]) <= 4096 for i in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP))
        assert locale.keywords[Intent.OPT_OUT][Match.WHOLE] or locale.keywords[Intent.OPT_OUT][Match.ANYWHERE]


@pytest.mark.parametrize("keyword", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"])
def test_carrier_opt_out_keywords_opt_out(classifier, keyword):
    assert classifier.classify(keyword).intent is Intent.OPT_OUT


@pytest.mark.parametrize("keyword, intent", [("START", Intent.OPT_IN), ("UNSTOP", Intent.OPT_IN),
                                             ("HELP", Intent.HELP), ("INFO", Intent.HELP)])
def test_carrier_opt_in_and_help_keywords(classifier, keyword, intent):
    assert classifier.classify(keyword).intent is intent


VALID = '''language = "xx"
name = "Test"
countries = ["EC"]
[opt_out]
whole_message = ["quit"]
anywhere = ["leave me be"]
reply = "bye"
[opt_in]
whole_message = ["join"]
anywhere = []
reply = "hi"
[help]
whole_message = ["aid"]
anywhere = []
reply = "help text"
'''


@pytest.mark.parametrize("text, message", [
    (VALID.replace('whole_message = ["join"]', 'whole_message = ["QUIT!"]'), "xx.toml, line 9: keyword 'QUIT!'"),
    (VALID.replace('reply = "bye"', 'reply = ""'), "[opt_out] reply must be a non-empty string"),
    (VALID.replace('reply = "bye"', 'reply = "' + "x" * 4097 + '"'), "4097 characters"),
    (VALID.replace('anywhere = ["leave me be"]', 'anywere = ["leave me be"]'), "line 6: [opt_out]: unknown field 'anywere'"),
    (VALID.replace('name = "Test"', 'name = "Test'), "xx.toml: not valid TOML"),
    (VALID.replace('language = "xx"', 'language = "yy"'), "file is named xx.toml"),
    (VALID.replace('countries = ["EC"]', 'countries = ["Ecuador"]'), "not a two-letter ISO country code"),
    (VALID.replace('[help]', '[halp]'), "unknown field 'halp'"),
])
def test_broken_locale_file_names_file_and_problem(tmp_path, text, message):
    (tmp_path / "xx.toml").write_text(text, "utf-8")
    with pytest.raises(LocaleError) as error:
        load_locales(tmp_path)
    assert message in str(error.value)
    assert "xx.toml" in str(error.value)


def test_locale_built_in_code_drives_a_classifier():
    words = {Intent.OPT_OUT: {Match.WHOLE: ["basta"], Match.ANYWHERE: ["me saquen"]},
             Intent.OPT_IN: {Match.WHOLE: ["vuelvo"], Match.ANYWHERE: []},
             Intent.HELP: {Match.WHOLE: ["socorro"], Match.ANYWHERE: []}}
    locale = Locale("es", "Español", ["EC"], ["porfa"], ["no"], words,
                    {Intent.OPT_OUT: "chao", Intent.OPT_IN: "hola", Intent.HELP: "ayuda"})
    classifier = Classifier.from_locales({"es": locale}, default_language="es")
    assert classifier.classify("basta porfa").rule == "whole_message:es:basta"
    assert classifier.classify("por favor me saquen de aqui").intent is Intent.OPT_OUT
    assert classifier.classify("no basta").intent is Intent.NONE


def test_lookups_stay_exact_among_twenty_thousand_keywords():
    words = [f"kw{i}x{chr(97 + i % 26)}{chr(97 + (i // 26) % 26)}zz" for i in range(20_000)]
    big = {Intent.OPT_OUT: {Match.WHOLE: ["stop", *words], Match.ANYWHERE: ["unsubscribe"]},
           Intent.OPT_IN: {Match.WHOLE: ["start"], Match.ANYWHERE: []},
           Intent.HELP: {Match.WHOLE: ["help"], Match.ANYWHERE: []}}
    locale = Locale("en", "English", ["US"], ["please"], ["dont"], big,
                    {Intent.OPT_OUT: "bye", Intent.OPT_IN: "hi", Intent.HELP: "?"})
    classifier = Classifier.from_locales({"en": locale})
    assert classifier.classify(words[12_345]).intent is Intent.OPT_OUT
    assert classifier.classify("Can I stop by?").intent is Intent.NONE
    assert classifier.classify("stpo").rule == "typo:en:stop"


def test_spaced_letters_do_not_count_as_words_for_language_detection():
    classifier = _SHARED_CLASSIFIER
    result = classifier.classify("S T O P")
    assert result.intent is Intent.OPT_OUT
    assert classifier.reply_language(result, "S T O P", "593991234567", None) == "es"


@pytest.mark.parametrize("text", ["Can I stop by tomorrow to pick up my order?", "El precio es muy alto",
                                  "Para quando é a entrega?", "Хватит ли мне одной упаковки?", "The end of the month"])
def test_a_common_word_that_is_also_a_keyword_does_not_fill_the_review_queue(text):
    result = _SHARED_CLASSIFIER.classify(text)
    assert (result.intent, result.certain) == (Intent.NONE, True)


@pytest.mark.parametrize("text, rule", [
    ("I told them already. Cancel soon", "partial:en:cancel"),
    ("Hm. End soon", "partial:en:end"),
])
def test_a_stop_word_heading_a_short_sentence_waits_for_review_naming_the_word(text, rule):
    result = _SHARED_CLASSIFIER.classify(text)
    assert (result.intent, result.certain, result.rule) == (Intent.NONE, False, rule)


def test_typo_lookups_are_remembered_without_changing_answers(monkeypatch):
    import handlers.detection.classify as classify_module

    def fresh():
        return Classifier(load_locales(LOCALES), default_language="en")   # a new one, not the remembered one

    # The same token looked up as a whole message and inside longer text, repeatedly,
    # with a memo that forgets every two tokens, against a new classifier per text.
    texts = ["STPO", "please stpo", "unsubscibe me now", "stpo", "stop by later", "STPO",
             "i said unsubscibe", "unsubscibe me now", "x" * 200]
    monkeypatch.setattr(classify_module, "TYPO_MEMO_SIZE", 2)
    shared = fresh()
    assert [shared.classify(text) for text in texts] == [fresh().classify(text) for text in texts]
    assert [shared.classify(text).rule for text in texts[:3]] == [
        "typo:en:stop", "typo:en:stop", "typo:en:unsubscribe"]


def test_a_spelling_of_a_whole_phrase_is_kept_however_many_its_words_have():
    # a phrase's spelled forms are capped (MAX_VARIANTS); forms with one spelling come before
    # forms with two, so many spellings of frequent words never crowd out the joined one
    from handlers.detection.spelling import MAX_VARIANTS, Spellings
    table = {"jgn": "jangan", "gk": "jangan", "ga": "jangan", "gausah": "jangan", "kirm": "kirim", "krm": "kirim",
             "kirimin": "kirim", "ngirim": "kirim", "lg": "lagi", "lgi": "lagi", "agi": "lagi", "deui": "lagi",
             "malih": "lagi", "jangankirimlagi": "jangan kirim lagi"}
    variants = Spellings({"id": table}).variants("id", ("jangan", "kirim", "lagi"))
    assert variants[0] == ("jangan", "kirim", "lagi")
    assert len(variants) == MAX_VARIANTS
    assert ("jangankirimlagi",) in variants and ("jgn", "krm", "lagi") in variants
