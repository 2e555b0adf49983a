"""Round 2 of request frames, for the engine and the western locales (en, es, pt, fr, it, ro,
de, nl, sv): where a negation stands, quoted keywords in questions, words typed without
spaces, passive and impersonal requests, opt-in and help in sentences.

Tables written by the team (like tests/corpus/*.tsv): each row is a message, the intent it
must get and how its rule must start.
"""
from __future__ import annotations

import pytest

from handlers.detection.classify import Classifier
from handlers.detection.intents import Intent, Match
from handlers.detection.locales import Locale
from tests.frame_checks import HELP, IN, NONE, OUT, check


def _locale(code, negations, after_verb=None, mixing=()):
    keywords = {Intent.OPT_OUT: {Match.WHOLE: [f"quit{code}"], Match.ANYWHERE: [f"unsub{code}"]},
                Intent.OPT_IN: {Match.WHOLE: [f"join{code}"], Match.ANYWHERE: []},
                Intent.HELP: {Match.WHOLE: [f"aid{code}"], Match.ANYWHERE: []}}
    return Locale(code, code, [], ["pls"], list(negations), keywords,
                  {Intent.OPT_OUT: "a", Intent.OPT_IN: "b", Intent.HELP: "c"},
                  code_mixing=list(mixing), negation_after_verb=after_verb)


# --- where a negation stands -------------------------------------------------------------------

@pytest.mark.parametrize("text, intent, rule", [
    # Malay chat writes "tak" (not) as "x": after an English keyword it negates nothing
    ("unsubscribe x", OUT, "anywhere:en:unsubscribe"),
    ("Unsubscribe x pls", OUT, "anywhere:en:unsubscribe"),
    ("stop never", OUT, "whole_message:en:stop"),
    # languages whose negation follows the verb: still negated
    ("sluta inte", NONE, "negated:sv:"),
    ("Hör nicht auf", NONE, "negated:de:"),
    ("stop niet", NONE, "negated:"),
    ("arrête pas", NONE, "negated:fr:"),
    ("Pare não", NONE, "negated:pt:"),
    # a negation before the keyword negates in every language
    ("don't stop", NONE, "negated:en:stop"),
    ("no me den de baja", NONE, "negated:es:"),
    ("nicht abmelden", NONE, "negated:de:"),
])
def test_a_negation_after_a_keyword_negates_only_where_the_language_puts_it_there(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


def test_negation_after_the_verb_is_a_per_language_setting():
    after = _locale("xx", ["nah"], after_verb=True)
    before = _locale("yy", ["nah"], after_verb=False)
    classifier = Classifier({"xx": after, "yy": before}, "xx")
    assert classifier.classify("quitxx nah").rule == "negated:xx:quitxx"
    assert classifier.classify("quityy nah").rule == "whole_message:yy:quityy"
    assert classifier.classify("nah quityy").rule == "negated:yy:quityy"      # before: always
    # a negation of one language does not negate another language's keyword after it
    other = Classifier({"xx": _locale("xx", ["nah"], after_verb=True), "zz": _locale("zz", ["meh"])}, "xx")
    assert other.classify("quitxx meh").intent is OUT
    # unless that language mixes the keyword's language in
    mixed = Classifier({"xx": _locale("xx", ["nah"]), "zz": _locale("zz", ["meh"], after_verb=True, mixing=["xx"])}, "xx")
    assert mixed.classify("quitxx meh").rule == "negated:xx:quitxx"


def test_the_default_position_follows_the_language():
    # no setting in the file: German puts "nicht" after the verb, Malay does not
    de = _locale("de", ["nicht"])
    ms = _locale("ms", ["x"])
    classifier = Classifier({"de": de, "ms": ms}, "de")
    assert classifier.classify("quitde nicht").intent is NONE
    assert classifier.classify("quitms x").intent is OUT


# --- quoting: a question about a keyword gets the help text ------------------------------------

@pytest.mark.parametrize("text, intent, rule, certain", [
    ("What happens if I reply STOP?", HELP, "quoted:en:stop", True),
    ("What does 'reply STOP' mean?", HELP, "quoted:en:stop", True),
    ("If I type unsubscribe will I lose my points?", HELP, "quoted:en:unsubscribe", True),
    ("Si respondo BAJA, ¿sigo recibiendo mis facturas?", HELP, "quoted:es:baja", True),   # "¿" after a comma
    ("Que se passe-t-il si j'écris STOP ?", HELP, "quoted:fr:stop", True),
    ("Was passiert, wenn ich STOP antworte?", HELP, "quoted:de:stop", True),
    # no question: a keyword in a story waits for a person
    ("My son texted STOP to his school lol", NONE, "quoted:en:stop", False),
    # a request said again is used, not quoted
    ("I already said STOP", OUT, "frame:en:said-before+@opt_out", True),
    ("How many times do I have to say stop texting me?!", OUT, "anywhere:en:stop texting me", True),
    # an opt-out or an opt-in elsewhere in the message wins over the question
    ("I replied STOP by mistake, please keep sending", IN, "frame:en:", True),
])
def test_a_quoted_keyword_in_a_question_is_answered_with_the_help_text(classifier, text, intent, rule, certain):
    check(classifier, text, intent, rule, certain)


def test_the_accuracy_report_counts_quoted_questions_as_answered_not_as_review(classifier):
    from handlers.ops.accuracy import Case, evaluate
    cases = [Case("en", NONE, "What happens if I reply STOP?", "en.tsv:1"),
             Case("en", NONE, "My son texted STOP to his school lol", "en.tsv:2")]
    report = evaluate(classifier, cases)
    assert (report.nones_answered, report.nones_to_review, len(report.wrong_intent)) == (1, 1, 0)


# --- words typed without spaces ------------------------------------------------------------

@pytest.mark.parametrize("text, intent, rule", [
    ("stopall please", OUT, "whole_message:en:"),
    ("optmeout", OUT, "whole_message:en:opt me out"),
    ("deleteme", OUT, "whole_message:en:delete me"),
    ("stopmessagingme", OUT, "anywhere:en:stop messaging me"),
    ("stopplz", OUT, "whole_message:en:stop"),
    ("bajaporfa", OUT, "whole_message:es:"),
    ("eliminenmenumero", OUT, ""),
    ("descadastrar por favor", OUT, ""),
    ("arretezsvp", OUT, ""),
    ("abmeldenbitte", OUT, ""),
    ("afmeldenalsjeblieft", OUT, ""),
    ("stopstop", OUT, "whole_message:en:stop"),
])
def test_words_typed_without_spaces_are_read_as_words(classifier, text, intent, rule):
    check(classifier, text, intent, rule)


@pytest.mark.parametrize("text", ["stopover", "understand", "together", "password", "nowhere", "thankyou",
                                  "endless", "cancellation", "stopwatch", "Endlich!", "quitter"])
def test_ordinary_words_are_not_cut_into_requests(classifier, text):
    assert classifier.classify(text).intent is not OUT


# --- passive and impersonal requests; "ne ... pas" as one negation ---------------------------

@pytest.mark.parametrize("text", [
    "I do not want to be contacted again", "I don't wish to be called or texted by you",
    "I'd rather not get these texts", "I would prefer not to receive your promotions",
    "No quiero ser contactada por ustedes", "Prefiero no recibir sus promociones",
    "Não quero ser contactada por vocês", "Não desejo ser incomodado com promoções", "Prefiro não receber mais ofertas",
    "Je ne souhaite pas être contactée par WhatsApp", "Je ne veux plus qu'on me contacte",
    "Je ne veux pas être dérangé par vos messages", "Je ne veux pas recevoir vos pubs",
    "Non voglio essere contattata su questo numero", "Preferisco non ricevere più le vostre offerte",
    "Non voglio essere disturbato", "Nu vreau să fiu contactată", "Nu doresc să mai fiu deranjat cu mesaje",
    "Ich möchte nicht kontaktiert werden", "Ich will nicht mehr angeschrieben werden",
    "Ich möchte nicht mehr von Ihnen angerufen werden", "Ik wil niet gecontacteerd worden",
    "Ik wil niet meer gebeld worden", "Jag vill inte bli störd med reklam", "Jag vill inte längre bli kontaktad",
])
def test_not_wanting_to_be_contacted_is_an_opt_out(classifier, text):
    assert classifier.classify(text).intent is OUT, classifier.classify(text)


@pytest.mark.parametrize("text", [
    "I want to be contacted about my order", "Quiero ser contactado por un asesor",
    "Quero ser contatado pelo vendedor", "Je veux être contacté par un conseiller",
    "Voglio essere contattato da un operatore", "Vreau să fiu contactat de un agent",
    "Ich möchte von einem Berater kontaktiert werden", "Ik wil graag gebeld worden door een medewerker",
    "Jag vill bli kontaktad av en säljare", "Prefiero no recibir el pedido el lunes", "I'd rather not get the blue one",
    "I don't mind being contacted", "Preferisco non ricevere il pacco sabato",
    "Je préfère ne pas recevoir le colis avant lundi",
])
def test_wanting_contact_or_preferring_about_an_order_is_no_opt_out(classifier, text):
    assert classifier.classify(text).intent is not OUT, classifier.classify(text)


# --- a negative request reinforced; another object in a clause before -------------------------

@pytest.mark.parametrize("text, intent", [
    ("Ne me contactez plus jamais", OUT),
    ("Ne m'envoyez plus jamais rien", OUT),
    ("Sluta inte", NONE),                                   # a plain request negated after its verb
    ("Hör nicht auf", NONE),
    ("I closed my account last year, stop texting me", OUT),
    ("Cancelé la tarjeta hace tiempo, dejen de mandarme mensajes", OUT),
    ("Já encerrei minha conta, parem de me mandar mensagens", OUT),
    ("Please stop sending the package, my order is wrong", NONE),   # the other object in its own clause
    ("Cancel my order, I do not want it", NONE),
    ("My order arrived, please cancel", NONE),                      # no messages named: the order is meant
])
def test_negative_requests_and_other_objects_in_earlier_clauses(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- a keyword said again ("already", "how many times") is a request ---------------------------

@pytest.mark.parametrize("text, intent", [
    ("Ya les dije que BAJA", OUT), ("¿Cuántas veces tengo que escribir BAJA?", OUT),
    ("Já falei que quero SAIR", OUT), ("Je vous ai déjà dit STOP", OUT),
    ("Combien de fois faut-il écrire STOP ?", OUT), ("Quante volte devo scrivere STOP?", OUT),
    ("V-am spus deja STOP", OUT), ("Ich habe schon STOP geschrieben", OUT),
    ("Hoe vaak moet ik nog STOP sturen?", OUT), ("Hur många gånger ska jag skriva STOP?", OUT),
    ("Hur många gånger ska jag säga att jag inte vill ha era sms?", OUT),
    # still questions about a keyword, still negated requests
    ("Si respondo BAJA, ¿sigo recibiendo facturas?", HELP), ("Vad händer om jag svarar STOP?", HELP),
    ("Ya dije que no quiero darme de baja", NONE),
])
def test_a_keyword_said_again_is_a_request(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- joining a list: "sign me up", "agréguenme", "meld me aan" -----------------------------------

@pytest.mark.parametrize("text, intent", [
    ("Yes, sign me up", IN), ("Please add me to your mailing list", IN), ("Sign me up for your offers", IN),
    ("Agrégame a la lista de promociones", IN), ("Sí, inscríbanme", IN),
    ("Me coloca na lista de promoções", IN), ("Sim, me cadastra", IN),
    ("Inscrivez-moi à la newsletter", IN), ("Iscrivetemi alle offerte", IN),
    ("Abonați-mă la newsletter", IN), ("Da, vreau să primesc oferte", IN),
    ("Ja, melde mich an", IN), ("Schrijf me in voor de nieuwsbrief", IN),
    ("Ja, lägg till mig på listan", IN), ("Ja, jag vill ha nyheter", IN),
    # another object, a negation, a German separable verb
    ("Sign me up for the yoga class", NONE), ("Sí, agrégame la tarjeta al pedido", NONE),
    ("Don't add me to the list", NONE), ("Não me adiciona em lista nenhuma", NONE),
    ("Ja, tragen Sie mich in den Newsletter ein", NONE), ("Tragen Sie mich bitte aus", OUT),
    ("Nehmen Sie mich von der Liste", OUT),
])
def test_joining_a_list_is_an_opt_in(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- verb forms: vosotros, formal requests, dialect; what message is this ------------------------

@pytest.mark.parametrize("text, intent", [
    ("Dadme de baja ya", OUT), ("No me mandéis más publicidad", OUT),
    ("Les ruego que se abstengan de enviarme mensajes", OUT), ("Le pido que deje de escribirme", OUT),
    ("Solicito la baja de mi número de su lista", OUT), ("Solicito la baja de mi línea telefónica", NONE),
    ("Dispenso as promoções, obrigado", OUT), ("Solicito o descadastramento do meu telefone", OUT),
    ("Bitte stellen Sie die Zusendung von Werbung ein", OUT), ("Stellen Sie die Heizung ein", NONE),
    ("Ich verzichte auf Ihre Angebote", OUT), ("Hört auf mit dem Spam", OUT), ("Hört auf mit dem Lärm", NONE),
    ("Jag ber er upphöra med att skicka sms", OUT), ("Ne me recontactez plus", OUT),
    ("Lâchez-moi avec vos pubs", OUT), ("Stuur me niks meer", OUT), ("Stuur niets meer aub", OUT),
    ("Wer ist da?", HELP), ("Cos è questo messaggio?", HELP), ("Ce mesaj e ăsta?", HELP),
    ("Wie is daar?", HELP), ("Was ist das für eine Nachricht?", HELP),
])
def test_verb_forms_and_what_message_questions(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- a request fronted and negated ("abmelden will ich nicht"); a keyword negated in its language --

@pytest.mark.parametrize("text, intent", [
    ("Abbestellen will ich nicht, nur die Lieferadresse ändern", NONE),
    ("Nein, abmelden will ich mich nicht", NONE),
    ("Afmelden wil ik niet, alleen mijn adres wijzigen", NONE),
    ("Avregistrera vill jag inte", NONE),
    ("Abmelden möchte ich mich bitte", OUT),
    ("Abmelden will ich mich, und zwar sofort", OUT),
    ("No need to unsubscribe me, I only asked about the price", NONE),
    ("Please unsubscribe me", OUT),
])
def test_fronted_negated_requests_and_negated_keywords(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- chat spellings, "skicka inget mer", "neem geen contact op", how often ---------------------

@pytest.mark.parametrize("text, intent", [
    ("kiero darme de vaja", OUT), ("je ve plus recevoir vos pubs", OUT), ("Cos'è questo messaggio?", HELP),
    ("Skicka inget mer tack", OUT), ("Neem geen contact meer op", OUT), ("Can you message me less often?", HELP),
    ("Le cose vanno bene", NONE), ("Il ve faire beau", NONE), ("How often do you restock?", NONE),
])
def test_chat_spellings_and_frequency_questions(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- "nada" is nothing, not messages ---------------------------------------------------------------

@pytest.mark.parametrize("text, intent", [
    ("No envíen nada más", OUT), ("Não mande mais nada", OUT), ("No me manden nada", OUT),
    ("Já encerrei o plano, não me mandem mais nada", OUT),
    ("No quiero cancelar nada, solo cambiar la dirección", NONE), ("Não quero cancelar nada", NONE),
    ("No me mandaron nada todavía", NONE), ("Não recebi nada ainda", NONE),
])
def test_nothing_is_no_object_of_other_verbs(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


@pytest.mark.parametrize("text, intent", [
    ("Schreibt mir nicht mehr", OUT), ("Schick mir nix mehr", OUT), ("Schreiben Sie mir bitte nicht mehr", OUT),
    ("I want out of this list", OUT), ("I want off your mailing list", OUT), ("I want out of this contract", NONE),
])
def test_send_me_no_more_and_wanting_off_a_list(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


@pytest.mark.parametrize("text, intent", [
    ("Varifrån har ni mitt nummer?", HELP), ("Hur avslutar jag prenumerationen?", HELP),
    ("Jag vill säga upp min prenumeration", OUT), ("Jag vill avsluta min prenumeration på tidningen", NONE),
])
def test_swedish_subscription_and_where_questions(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- another object seen in one language guards every language's frame on the same verb --------

@pytest.mark.parametrize("text, intent", [
    ("I want to cancel my subscription to the gym", NONE),
    ("Remove me from the waiting list for the table", NONE),
    ("Stop sending me the paper bills, email only", NONE),
    ("Stop sending me these texts about bills", OUT),
    ("I want to cancel my subscription to your texts", OUT),
    ("Skicka inte paketet före måndag", NONE), ("Skicka inte mer reklam", OUT),
])
def test_other_objects_guard_frames_of_every_language(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)


# --- a negation binds to a verb of its own language ("nicht über WhatsApp kontaktiert werden") ----

@pytest.mark.parametrize("text, intent", [
    ("Ich möchte nicht über WhatsApp kontaktiert werden", OUT),
    ("Ik wil niet via WhatsApp benaderd worden", OUT),
    ("Don't stop sending me deals", NONE),
    ("No me manden texts", OUT),
    ("Cancel my uber", NONE),
])
def test_a_negation_binds_to_a_verb_of_its_own_language(classifier, text, intent):
    assert classifier.classify(text).intent is intent, classifier.classify(text)
