"""Requests in people's own words for ru, uk, pl, cs, el, tr, ar, fa, he, hi, ur, bn, ta, te:
verb paradigms (both aspects, "ты" and "вы", imperatives and negated imperatives),
impersonal and formal requests, regional variants, transliteration, joined words, and the
hard messages that must stay ordinary (complaints in the past tense, another object,
negated requests, quoting).

Each row: a message, the intent it must get, and how its rule must start. The rows are
written by the team from knowledge of each language, not copied from a corpus.
"""
from __future__ import annotations

import pytest

from handlers.detection.intents import Intent
from tests.frame_checks import HELP, IN, NONE, OUT, check

RU = [
    # negated imperatives, both persons and aspects, with words in between
    ("Не присылай мне больше", OUT, "frame:ru:negation+send-verb"),
    ("Не надо мне больше ничего присылать", OUT, "frame:ru:"),
    ("Не отправляйте мне сообщения", OUT, "frame:ru:negation+ship-verb+messages"),
    ("Не шлите мне больше ничего", OUT, "frame:ru:negation+send-verb"),
    ("Не хочу, чтобы мне писали", OUT, "frame:ru:negation+want-verb+so-that+sent-past"),
    ("Не хочу чтоб вы мне присылали рекламу", OUT, "frame:ru:negation+want-verb+so-that+sent-past"),
    ("Хочу, чтобы вы удалили мой номер", OUT, "frame:ru:"),
    ("Пожалуйста, больше без рассылок", OUT, "frame:ru:more+without+messages"),
    ("Никаких больше рассылок, спасибо", OUT, "frame:ru:enough+messages"),
    ("Я отказываюсь от получения рекламы", OUT, "frame:ru:refuse-verb+off+messages"),
    ("Отказ от рассылки", OUT, "frame:ru:refuse-verb+off+messages"),
    ("Отпиши меня", OUT, "frame:ru:remove-verb+me"),
    ("Выпишите меня из рассылки", OUT, "frame:ru:unlist-verb+me+off+list"),
    ("Забудьте мой номер", OUT, "frame:ru:remove-verb+my-number"),
    ("Выключите рассылку", OUT, "frame:ru:stop-verb+"),
    ("Отмените подписку", OUT, "frame:ru:revoke-verb+consent"),
    ("Отвалите со своей рекламой", OUT, "frame:ru:go-away+messages"),
    ("Не звоните мне больше", OUT, "frame:ru:negation+call-verb+more"),
    # Russian in Latin letters, joined words, misspellings
    ("ne pishi mne bolshe", OUT, "frame:ru:negation+send-verb"),
    ("ne hochu chtoby mne pisali", OUT, "frame:ru:negation+want-verb+so-that+sent-past"),
    ("bolshe nikakih rassylok", OUT, "frame:ru:enough+messages"),
    ("hvatit spamit", OUT, "anywhere:ru:хватит спамить"),
    ("otpishitemenya", OUT, "whole_message:ru:отпишите меня"),
    ("отпишитеменя", OUT, "whole_message:ru:отпишите меня"),
    ("нипишите мне", OUT, "anywhere:ru:не пишите мне"),
    # ordinary: a negated verb that is not "send" comes first; the past tense is a complaint
    ("Не забудьте прислать чек", NONE, ""),
    ("Не получается написать в поддержку", NONE, ""),
    ("Не успел вам написать вчера", NONE, ""),
    ("Не стесняйтесь обращаться", NONE, ""),
    ("Вы не присылали трек-номер", NONE, ""),
    ("Вы мне так и не написали", NONE, ""),
    ("Не звоните, лучше напишите", NONE, ""),
    ("Не присылайте курьера до обеда", NONE, "other-object:ru:"),
    ("Отмените подписку на журнал", NONE, "other-object:ru:"),
    ("Как отписаться от платной подписки на кинотеатр в приложении?", NONE, "other-object:ru:"),
    ("Не прекращайте рассылку, мне нравятся акции", NONE, "negated:ru:"),
    # opt-in and help
    ("Отписался по ошибке, верните меня", IN, "frame:ru:"),
    ("Верните меня в рассылку", IN, "frame:ru:resume-verb+"),
    ("Продолжайте присылать", IN, "frame:ru:resume-verb+send-verb"),
    ("Как отписаться?", HELP, "frame:ru:how-question+"),
]


def _ids(rows: list[tuple[str, Intent, str]], code: str) -> list[str]:
    return [f"{code}-{i}-{intent.value}" for i, (_, intent, _) in enumerate(rows)]


@pytest.mark.parametrize("text, intent, rule", RU, ids=_ids(RU, "ru"))
def test_ru(classifier, text, intent, rule):
    check(classifier, text, intent, rule)
