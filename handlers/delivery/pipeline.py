"""One delivery, top-down: classify -> (one transaction:) dedupe -> record consent -> queue the reply.

Everything a delivery changes commits in one transaction before the webhook
answers 200. Each item runs in its own savepoint: an item that breaks is rolled
back alone and kept in `dead_letters` with its raw JSON, so it is neither lost
nor able to cost the other items of the delivery.

Messages are classified before the transaction (pure work, no lock held), which
also tells how durable the commit must be: a delivery that can change consent,
the outbox, the review queue or an outbox row's state is fsynced before the 200;
one made only of messages classified as certainly nothing (ordinary chat) only
records its dedupe keys and impact-preview rows, and commits without waiting for
the fsync (see `needs_fsync`); such a delivery, when its ids need no linking, takes
no transaction of its own: its rows join this process's batch (see
handlers/delivery/chat_batch.py and `answer_chat`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from handlers.consent import contacts, dedupe, identity, ledger, review
from handlers.consent.identity import KnownLinks
from handlers.consent.ledger import Action, ConsentChange, Recorded, Scope, Source
from handlers.delivery import outbox
from handlers.delivery.chat_batch import ChatBatch, row_for
from handlers.detection.buttons import ButtonReply
from handlers.detection.classify import Classification, Classifier, classify_words
from handlers.detection.intents import Intent
from handlers.settings import Settings
from handlers.staff import impact
from handlers.storage import clock
from handlers.storage.db import (
    Database,
    OperationalError,
    fsync_wal,
    insert_row,
    refuse_after_failed_fsync,
    savepoint,
    transaction,
)
from handlers.whatsapp.parse import (
    Delivery,
    ErrorReport,
    IdChange,
    IdentityLink,
    Item,
    Malformed,
    Message,
    NumberChange,
    PreferenceChange,
    Status,
    storable,
)

log = logging.getLogger("optout.pipeline")

OPTED_OUT_BY_META = 131050


@dataclass
class Context:
    """What every handler may use: passed explicitly, never looked up globally."""
    db: Database
    classifier: Classifier
    settings: Settings
    dry_run: bool = False
    known_links: KnownLinks = field(default_factory=KnownLinks)   # the process's, from the Service
    linked: list[tuple[str, ...]] = field(default_factory=list)    # id groups linked by this delivery
    chat: ChatBatch | None = None      # the process's batch of ordinary chat rows (None: none kept)


class Confirmation(StrEnum):
    """What became of the confirmation for one item; the value is what the webhook's
    answer and replay show."""
    QUEUED = "queued"
    WAITING_FOR_REVIEW = "skipped: waiting for review"
    NO_CHANGE = "skipped: no change in consent"
    NO_BUSINESS_NUMBER = "skipped: no business phone_number_id in the delivery"
    ALREADY_QUEUED = "skipped: already queued for this message"
    OUTSIDE_WINDOW = "skipped: outside the 24-hour customer-service window"


@dataclass
class Outcome:
    """What happened to one item; the webhook logs these and replay prints them."""
    kind: str                           # message, status, user_preference, number_change, or what broke
    id: str | None = None
    wa_id: str | None = None
    duplicate: bool = False
    intent: Intent | None = None
    rule: str | None = None
    language: str | None = None
    consent: Action | None = None       # when the list changed
    source: Source | None = None
    state: str | None = None            # after a consent signal: "suppressed (all)", "suppressed (marketing)", "subscribed"
    reply: Confirmation | None = None          # None: nothing to confirm
    certain: bool = True
    error: str | None = None


@dataclass
class Result:
    outcomes: list[Outcome] = field(default_factory=list)
    errors: tuple[ErrorReport, ...] = ()      # what Meta reported beside the items (logged, counted)

    @property
    def replies_queued(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.reply is Confirmation.QUEUED)

    def count(self, **match) -> int:
        return sum(all(getattr(o, k) == v for k, v in match.items()) for o in self.outcomes)


INERT_STATUSES = frozenset({"sent", "delivered", "read"})


def is_inert(item: object) -> bool:
    """A sent/delivered/read status of a campaign message: the bulk of a campaign's
    traffic (three per message sent), and nothing for us to do. Handling one twice
    changes nothing, so it needs no dedupe key and no transaction: the webhook answers
    these without touching the database, once this process knows the link between the
    recipient's number and user id they carry (see process_delivery). Failed statuses
    (131050 is an opt-out) and statuses that confirm one of our own replies (callback
    `outbox:<id>`) are not inert.
    """
    return (isinstance(item, Status) and item.status in INERT_STATUSES
            and not (item.callback_data or "").startswith("outbox:"))


@dataclass(frozen=True)
class ClassifiedMessage:
    """A message with what its words mean, worked out before the transaction."""
    message: Message
    classification: Classification
    said: str                           # which of the user's strings decided it


@dataclass(frozen=True)
class UnclassifiableMessage:
    """The classifier failed on this message: it becomes a dead letter, in its turn."""
    message: Message
    error: Exception


Pending = (ClassifiedMessage | UnclassifiableMessage | NumberChange | IdChange | Status | PreferenceChange
           | IdentityLink | Malformed)


def classify_item(ctx: Context, item: Item) -> Pending:
    if isinstance(item, Message):
        try:
            button = ButtonReply(item.button.kind, item.button.key, item.button.title) if item.button else None
            return ClassifiedMessage(item, *classify_words(ctx.classifier, item.words, button))
        except Exception as error:  # one message must not cost its neighbours
            return UnclassifiableMessage(item, error)
    return item


def needs_fsync(item: Pending) -> bool:
    """Whether committing this item must wait for the disk before Meta gets its 200.

    Three kinds may skip it: a message classified as certainly nothing (no intent,
    nothing for review: it writes its dedupe key, its words for the impact preview and
    the link between the ids it carries), an inert status and a bare contact (they
    write only that link). Such a commit survives any crash of the process and becomes
    durable with the next fsynced commit (the WAL is written in order, so any opt-out
    that relies on the link makes it durable too); a power cut in between costs the
    link, which the next delivery naming both ids makes again. Everything else
    (consent, replies, the review queue, dead letters, outbox confirmations) is fsynced.
    """
    if isinstance(item, ClassifiedMessage):
        return item.classification.intent is not Intent.NONE or not item.classification.certain
    if isinstance(item, IdentityLink) or is_inert(item):
        return False   # a campaign's statuses each link a new recipient once: no fsync for that
    return True


def process_delivery(ctx: Context, delivery: Delivery) -> Result:
    result = Result(errors=delivery.errors)
    pending: list[Pending] = []
    for item in delivery.items:
        if isinstance(item, Status) and is_inert(item) and _linked_already(ctx, item.identities):
            result.outcomes.append(Outcome("status", id=item.id, wa_id=item.recipient))
        elif isinstance(item, IdentityLink) and _linked_already(ctx, item.identities):
            result.outcomes.append(Outcome("contact", wa_id=item.identities[0]))
        else:
            pending.append(classify_item(ctx, item))
    if not pending:
        return result
    durable = any(needs_fsync(item) for item in pending)
    if not durable and all(_batchable(ctx, item) for item in pending):
        return answer_chat(ctx, pending, result)
    ctx.linked.clear()
    try:
        with transaction(ctx.db, durable=durable):
            for work in pending:
                linked_before = len(ctx.linked)
                try:
                    with savepoint(ctx.db):
                        outcome = handle(ctx, work)
                except OperationalError:
                    raise  # the database, not the item: refuse the delivery so Meta retries it
                except Exception as error:
                    del ctx.linked[linked_before:]  # rolled back with the item
                    outcome = _dead_letter(ctx, work, error)
                result.outcomes.append(outcome)
            if ctx.dry_run:
                raise _DryRun  # classify and show, change nothing
    except _DryRun:
        pass
    else:
        for ids in ctx.linked:  # committed: this process need not link them again
            ctx.known_links.add(ids)
        if not durable and any(outcome.error or outcome.duplicate for outcome in result.outcomes):
            # a handler failed on ordinary chat: its dead letter must last; or a redelivery was
            # answered from a dedupe key whose first delivery (classified otherwise then, before a
            # keyword edit) may have committed without its fsync yet: the 200 must not outrun it
            fsync_wal(ctx.db)
    finally:
        ctx.linked.clear()
    return result


def _batchable(ctx: Context, item: Pending) -> bool:
    """Whether this item may leave its rows in the process's batch instead of a transaction:
    ordinary chat (needs_fsync said no) whose ids need no link written."""
    if ctx.chat is None or not ctx.chat.enabled or ctx.dry_run or not isinstance(item, ClassifiedMessage):
        return False
    ids = item.message.identities
    return len(ids) <= 1 or ctx.known_links.known(ids) or _linked_already(ctx, ids)


def answer_chat(ctx: Context, pending: list[Pending], result: Result) -> Result:
    """A delivery of ordinary chat only: answered after one read per message (is its key in the
    database or in the batch?); its rows go to the batch, written within chat_batch_seconds."""
    assert ctx.chat is not None
    refuse_after_failed_fsync(ctx.db)   # as transaction() would: while writes are refused, so is chat (503)
    duplicate = False
    for item in pending:
        assert isinstance(item, ClassifiedMessage)
        message, classification = item.message, item.classification
        outcome = Outcome("message", id=message.id, wa_id=message.sender)
        key = message.dedupe_key
        if ctx.chat.holds(key) or dedupe.seen(ctx.db, key):
            outcome.duplicate = duplicate = True
        else:
            outcome.intent, outcome.rule, outcome.certain = classification.intent, classification.rule, True
            ctx.chat.add(row_for(key, message.id, message.sender, message.words, classification.intent,
                                 classification.rule))
        result.outcomes.append(outcome)
    if duplicate:
        # the first delivery may have been committed (as something else, before a keyword edit) without its
        # fsync yet: the 200 must not outrun it
        fsync_wal(ctx.db)
    return result


class _DryRun(Exception):
    """Rolls a dry run's transaction back."""


def handle(ctx: Context, item: Pending) -> Outcome:
    """The one dispatch: each kind of item to its handler (inside the item's savepoint)."""
    match item:
        case ClassifiedMessage():
            return handle_message(ctx, item)
        case UnclassifiableMessage():
            raise item.error
        case NumberChange():
            return handle_number_change(ctx, item)
        case IdChange():
            return handle_id_change(ctx, item)
        case Status():
            return handle_status(ctx, item)
        case PreferenceChange():
            return handle_preference(ctx, item)
        case IdentityLink():
            return handle_identity_link(ctx, item)
        case Malformed():
            return handle_malformed(ctx, item)
    assert_never(item)


def handle_message(ctx: Context, classified: ClassifiedMessage) -> Outcome:
    message, classification, said = classified.message, classified.classification, classified.said
    outcome = Outcome("message", id=message.id, wa_id=message.sender)
    if (ctx.chat is not None and ctx.chat.holds(message.dedupe_key)) or not dedupe.claim(
            ctx.db, message.dedupe_key, "message"):
        outcome.duplicate = True   # answered before: in the database, or in this process's batch of chat
        return outcome
    outcome.intent, outcome.rule, outcome.certain = classification.intent, classification.rule, classification.certain
    _link(ctx, message.identities, "message")
    # Kept (bounded) so staff can preview what a keyword edit would do to real messages.
    impact.remember(ctx.db, message.id, message.sender, message.words, outcome.intent, outcome.rule)
    text = " ".join(message.words)
    if classification.intent is Intent.NONE:
        if not classification.certain:
            # Looks like an opt-out but may not be one: a person decides (see handlers/review.py);
            # its language as a reply would have it, so staff can filter the queue by language
            language = ctx.classifier.reply_language(classification, text, _phone(message.sender),
                                                     contacts.last_language(ctx.db, message.sender))
            review.add(ctx.db, message.id, message.sender, " / ".join(message.words), classification, language)
            outcome.reply = Confirmation.WAITING_FOR_REVIEW
        return outcome
    last_language = contacts.last_language(ctx.db, message.sender)
    language = ctx.classifier.reply_language(classification, text, _phone(message.sender), last_language)
    outcome.language = language
    changed = True
    if classification.intent in (Intent.OPT_OUT, Intent.OPT_IN):
        action = Action.OPT_OUT if classification.intent is Intent.OPT_OUT else Action.OPT_IN
        source = Source.BUTTON if message.from_button else Source.KEYWORD
        # Meta's "Stop promotions" button stops marketing; a STOP or an opt-out sentence, everything.
        scope = Scope.MARKETING if message.stop_promotions else Scope.ALL
        recorded = ledger.record(ctx.db, ConsentChange(
            wa_id=message.sender, action=action, source=source, occurred_at=_occurred_at(message),
            claimed_at=_unreadable_time(message), scope=scope,
            keyword=said[:500], rule=classification.rule, language=language,
            business_phone_number_id=message.business.phone_number_id,
            business_display_number=message.business.display_phone_number, message_id=message.id,
        ))
        changed = recorded.changed
        _note(outcome, recorded, action, source)
    if changed:
        outcome.reply = _queue_reply(ctx, message, classification.intent, language, last_language)
    else:
        outcome.reply = Confirmation.NO_CHANGE
    return outcome


def handle_number_change(ctx: Context, change: NumberChange) -> Outcome:
    """An opt-out follows the user to the new number (and its new user id). The old and the
    new number stay two persons: a number is given to someone else one day."""
    new = change.new_wa_id or next(iter(change.new_identities), None)
    outcome = Outcome("number_change", id=change.id, wa_id=new)
    if not dedupe.claim(ctx.db, change.dedupe_key, "message"):
        outcome.duplicate = True
        return outcome
    _link(ctx, change.new_identities, "number_change")
    old = ledger.state_for(ctx.db, change.old_wa_id) if change.old_wa_id and new else None
    if new and old and old.suppressed:
        _record_signal(ctx, outcome, change, new, Action.OPT_OUT, Source.NUMBER_CHANGE,
                       f"carried over from {change.old_wa_id}", message_id=change.id, scope=old.scope or Scope.ALL)
    return outcome


def handle_id_change(ctx: Context, change: IdChange) -> Outcome:
    """The old and the new business-scoped id (and the number, if given) are one person:
    whatever consent the user gave under the old id holds under the new one."""
    outcome = Outcome("user_id_change", id=change.id, wa_id=change.current[0])
    if change.dedupe_key and not dedupe.claim(ctx.db, change.dedupe_key, "message"):
        outcome.duplicate = True
        return outcome
    _link(ctx, change.identities, "user_id_change")
    state = ledger.state_for(ctx.db, change.current[0])
    outcome.state = state.summary if state else None
    return outcome


def handle_status(ctx: Context, status: Status) -> Outcome:
    outcome = Outcome("status", id=status.id, wa_id=status.recipient)
    if is_inert(status):  # here only because this process had not yet linked its ids
        _link(ctx, status.identities, "status")
        return outcome
    if not dedupe.claim(ctx.db, status.dedupe_key, "status"):
        outcome.duplicate = True
        return outcome
    _link(ctx, status.identities, "status")
    if status.status in INERT_STATUSES:
        outbox.confirm_by_callback(ctx.db, status.callback_data, status.id, status.identities)
    if status.status == "failed" and OPTED_OUT_BY_META in status.error_codes and status.recipient:
        _record_signal(ctx, outcome, status, status.recipient, Action.OPT_OUT, Source.META_STATUS_131050,
                       "Meta: the user stopped marketing messages (131050)", message_id=status.id,
                       scope=Scope.MARKETING)
    return outcome


def handle_preference(ctx: Context, change: PreferenceChange) -> Outcome:
    outcome = Outcome("user_preference", wa_id=change.wa_id)
    if not dedupe.claim(ctx.db, change.dedupe_key, "user_preference"):
        outcome.duplicate = True
        return outcome
    _link(ctx, change.identities, "user_preference")
    actions = {"stop": Action.OPT_OUT, "resume": Action.OPT_IN}
    if change.category == "marketing_messages" and change.value in actions:
        _record_signal(ctx, outcome, change, change.wa_id, actions[change.value], Source.META_PREFERENCE,
                       f"Meta user_preferences: {change.category}={change.value}", scope=Scope.MARKETING)
    return outcome


def handle_identity_link(ctx: Context, item: IdentityLink) -> Outcome:
    _link(ctx, item.identities, "contact")
    return Outcome("contact", wa_id=item.identities[0])


def _linked_already(ctx: Context, identities: tuple[str, ...]) -> bool:
    """Whether these ids are known to be one person: by this process, or (one read, no write
    lock) by the database, as after a restart."""
    if ctx.known_links.known(identities):
        return True
    persons = identity.persons_of(ctx.db, list(set(identities)))
    if len(persons) == len(set(identities)) and len(set(persons.values())) == 1:
        ctx.known_links.add(identities)
        return True
    return False


def _link(ctx: Context, identities: tuple[str, ...], reason: str) -> None:
    """A delivery named one user by several ids: they are one person (one indexed statement
    when the database knows it already; nothing when this process does)."""
    if len(identities) > 1 and not ctx.known_links.known(identities):
        ledger.link(ctx.db, identities, reason)
        ctx.linked.append(identities)


def _record_signal(ctx: Context, outcome: Outcome, item: NumberChange | Status | PreferenceChange, wa_id: str,
                   action: Action, source: Source, reason: str, message_id: str | None = None,
                   scope: Scope = Scope.ALL) -> None:
    """Record a consent signal that comes from Meta, not from the user's words: no reply."""
    recorded = ledger.record(ctx.db, ConsentChange(
        wa_id=wa_id, action=action, source=source, occurred_at=_occurred_at(item),
        claimed_at=_unreadable_time(item), scope=scope,
        message_id=message_id, business_phone_number_id=item.business.phone_number_id,
        business_display_number=item.business.display_phone_number, reason=reason,
    ))
    _note(outcome, recorded, action, source)


def _note(outcome: Outcome, recorded: Recorded, action: Action, source: Source) -> None:
    outcome.state = recorded.after.summary if recorded.after else "subscribed"
    if recorded.changed:
        outcome.consent, outcome.source = action, source


def handle_malformed(ctx: Context, item: Malformed) -> Outcome:
    _store_dead_letter(ctx, item.kind, item.reason, item.raw)
    return Outcome(item.kind, error=item.reason)


def _queue_reply(ctx: Context, message: Message, intent: Intent, language: str,
                 last_language: str | None) -> Confirmation:
    if not message.business.phone_number_id:
        return Confirmation.NO_BUSINESS_NUMBER
    now = clock.utcnow()
    sent_at = min(clock.from_epoch(message.timestamp), now) if message.timestamp else now
    deadline = clock.later(ctx.settings.reply_window_seconds, sent_at)
    fate = Confirmation.OUTSIDE_WINDOW if deadline <= clock.now_iso() else Confirmation.QUEUED
    reply = outbox.Reply(
        event_key=f"reply:{message.id}", wa_id=message.sender,
        phone_number_id=message.business.phone_number_id, intent=intent.value, language=language,
        body=ctx.classifier.reply_text(intent, language), deadline=deadline,
    )
    skip_reason = None if fate is Confirmation.QUEUED else fate.value.removeprefix("skipped: ")
    if not outbox.enqueue(ctx.db, reply, skip_reason):
        return Confirmation.ALREADY_QUEUED
    if language != last_language:  # read in this transaction: the same language needs no write
        contacts.remember_language(ctx.db, message.sender, language)
    return fate


def _phone(wa_id: str | None) -> str | None:
    return wa_id if wa_id and wa_id.isdigit() else None


def _occurred_at(item: Message | NumberChange | Status | PreferenceChange) -> str:
    """The item's own time; now when it has none we can read (ledger.record also counts a
    time far in the future as now)."""
    return clock.iso(clock.from_epoch(item.timestamp)) if item.timestamp else clock.now_iso()


def _unreadable_time(item: Message | NumberChange | Status | PreferenceChange) -> str | None:
    """The timestamp as sent, when there was one and it could not be read (kept with the event)."""
    if item.timestamp is not None or not isinstance(item.raw, dict) or item.raw.get("timestamp") in (None, ""):
        return None
    claimed = str(item.raw["timestamp"]) if not isinstance(item.raw["timestamp"], int) else "a huge integer"
    log.warning("a %s carried an unreadable timestamp (%s%s); its consent signal counts as now",
                type(item).__name__, claimed[:40], "…" if len(claimed) > 40 else "")
    return claimed[:64]


def _dead_letter(ctx: Context, item: Pending, error: Exception) -> Outcome:
    broken = item.message if isinstance(item, (ClassifiedMessage, UnclassifiableMessage)) else item
    kind = type(broken).__name__.lower()
    reason = f"{type(error).__name__}: {error}"
    log.exception("item could not be processed; kept in dead_letters")
    _store_dead_letter(ctx, kind, reason, broken.raw)
    return Outcome(kind, id=getattr(broken, "id", None), error=reason)


def _store_dead_letter(ctx: Context, kind: str, reason: str, raw: object) -> None:
    """Stored whatever the item holds: JSON escapes keep a lone surrogate (a cut emoji,
    "\ud83d", which SQLite cannot store as text) as the six characters Meta sent."""
    insert_row(ctx.db, "dead_letters", {
        "received_at": clock.now_iso(), "kind": storable(kind), "error": storable(reason[:1000]),
        "raw": json.dumps(raw, ensure_ascii=True, default=repr)[:1_000_000],
    })

