"""Inbox automation: the greeting, the away message and the bot that hands conversations to
people.

It runs as a ``chats.hooks`` callback inside the customer's send, after their message is
stored and while the send holds the chat's row lock: every reply gets a later id than the
customer's message, its ``message:new`` goes out after theirs (on the same commit), and two
customer messages in a row are handled one after the other. Automated messages themselves go
through the hook too (for channels to send them) and never trigger automation. A fault in
automation is logged and rolled back to a savepoint: the customer's message is kept.

What was already said is read back from the replies' ``client_id`` (``automation:greeting``,
``automation:away:<local date>``, ``automation:bot:<n>``), so no extra state is kept.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from automation import bot
from automation.schedule import inbox_is_open, inbox_local_date
from chats import events as chat_events
from chats.models import Chat, ChatStatus, Inbox, Message, MessageKind
from chats.services import message_post_automated, message_post_system
from crm.i18n import organization_language
from operators.services import audit_record, chat_auto_assign
from operators.suggestions import canned_matches, stems

logger = logging.getLogger(__name__)

GREETING = "automation:greeting"
AWAY = "automation:away:"
BOT_ANSWER = "automation:bot:"
BOT_PROMPT = "automation:prompt:"
BOT_PASSING_ON = "automation:handoff:"
# After this many answers the bot hands the conversation to people.
MAX_BOT_ANSWERS = 2

ASKED_FOR_PERSON = "asked_for_person"
UNANSWERED = "unanswered"
ENOUGH_ANSWERS = "second_answer"
BOT_DISABLED = "bot_disabled"
_REASON_WORDS = {
    ASKED_FOR_PERSON: _("the customer asked for a person"),
    UNANSWERED: _("it had no answer"),
    ENOUGH_ANSWERS: _("after its second answer"),
    BOT_DISABLED: _("the bot is switched off"),
}


def automation_on_message_stored(message: Message) -> None:
    """``chats.hooks.on_message_stored`` callback: a customer's new message in a support
    chat of an inbox with automation gets the inbox's replies."""
    if message.automated or message.sender_id is None or message.staff_only:
        return
    chat = message.chat
    if not chat.is_support or chat.inbox_id is None or message.sender.is_staff:
        return
    inbox = chat.inbox
    if not (
        inbox.greeting
        or (inbox.away_message and inbox.working_hours)
        or inbox.bot_enabled
        or chat.status == ChatStatus.PENDING
    ):
        return
    try:
        with transaction.atomic():
            automation_respond(message=message, inbox=inbox)
    except Exception:
        logger.exception("Inbox automation failed on message %s; the message is kept", message.pk)


def automation_respond(*, message: Message, inbox: Inbox) -> list[Message]:
    """The inbox's replies to the customer's ``message`` (its chat locked by the caller), in
    order: greeting, the bot's answer or hand-off, away message. Returns what was posted."""
    chat = message.chat
    posted: list[Message] = []
    if inbox.greeting and _is_new_conversation(message):
        posted.append(message_post_automated(chat=chat, text=inbox.greeting, client_id=GREETING))
    if _bot_handles(chat):
        if inbox.bot_enabled:
            posted += _bot_turn(message=message, inbox=inbox)
        else:
            _hand_off(chat, reason=BOT_DISABLED)
    if chat.status != ChatStatus.PENDING and inbox.away_message:
        away = _away_message(chat, inbox=inbox)
        if away is not None:
            posted.append(away)
    return posted


def _is_new_conversation(message: Message) -> bool:
    """The customer's message opens the conversation: nothing public was said before it
    (system lines aside). A chat that reopens has history, so it is not greeted again."""
    return not (
        Message.objects.filter(chat_id=message.chat_id, id__lt=message.pk, staff_only=False)
        .exclude(kind=MessageKind.SYSTEM)
        .exists()
    )


def _bot_handles(chat: Chat) -> bool:
    """A conversation that started pending for the bot, and no person has stepped in (no
    assignee, no staff reply)."""
    return (
        chat.status == ChatStatus.PENDING
        and chat.assignee_id is None
        and chat.first_response_at is None
    )


def _bot_turn(*, message: Message, inbox: Inbox) -> list[Message]:
    chat = message.chat
    text = message.text or ""
    # Words without letters ("?", "👍") get the organization's language.
    language = bot.language_of(text, default="") or organization_language(chat.organization_id)
    keywords = list(inbox.handoff_keywords or [])
    if bot.asks_for_person(text, keywords):
        return _hand_off(chat, reason=ASKED_FOR_PERSON, language=language, trigger=message)
    query = stems(text)
    if not query:
        if text.strip():  # "hello", "?": nothing to look up, say how the bot works
            prompt = bot.prompt_text(language=language, keywords=keywords)
            return [
                message_post_automated(
                    chat=chat, text=prompt, client_id=f"{BOT_PROMPT}{message.pk}"
                )
            ]
        # A photo or a file without words: a person has to look at it.
        return _hand_off(chat, reason=UNANSWERED, language=language, trigger=message)
    matches = canned_matches(organization_id=chat.organization_id, query=query)
    if not matches:
        return _hand_off(chat, reason=UNANSWERED, language=language, trigger=message)
    answered = Message.objects.filter(
        chat=chat, sender=None, automated=True, client_id__startswith=BOT_ANSWER
    ).count()
    last = answered + 1 >= MAX_BOT_ANSWERS
    if last:
        reply = bot.last_answer_text(matches[0].text, language=language)
    else:
        reply = bot.answer_text(matches[0].text, language=language, keywords=keywords)
    answer = message_post_automated(chat=chat, text=reply, client_id=f"{BOT_ANSWER}{answered + 1}")
    if last:
        _hand_off(chat, reason=ENOUGH_ANSWERS)
    return [answer]


def _hand_off(
    chat: Chat, *, reason: str, language: str | None = None, trigger: Message | None = None
) -> list[Message]:
    """The conversation goes from the bot to people: ``open``, an audit row, a staff-only
    system line saying why, ``chat:updated``, and auto-assignment like any opened chat. With a
    ``language`` the customer is told first."""
    posted = []
    if language is not None and trigger is not None:
        notice = bot.passing_on_text(language, unanswered=reason == UNANSWERED)
        posted.append(
            message_post_automated(
                chat=chat, text=notice, client_id=f"{BOT_PASSING_ON}{trigger.pk}"
            )
        )
    Chat.objects.filter(pk=chat.pk).update(status=ChatStatus.OPEN)
    chat.status = ChatStatus.OPEN
    audit_record(
        actor=None,
        organization=chat.organization_id,
        verb="chat.handed_off",
        target=chat,
        data={"from": ChatStatus.PENDING, "to": ChatStatus.OPEN, "reason": reason},
    )
    message_post_system(
        chat=chat,
        text=format_lazy(
            _("The bot handed the conversation to operators: {reason}."),
            reason=_REASON_WORDS[reason],
        ),
        staff_only=True,
    )
    # The payload shows the newest messages: the replies above were posted on a fresh copy.
    chat.refresh_from_db(
        fields=["last_message", "last_public_message", "last_message_at", "last_activity_at"]
    )
    chat_events.chat_updated(chat)
    chat_auto_assign(chat=chat)
    return posted


def _away_message(chat: Chat, *, inbox: Inbox) -> Message | None:
    """Outside working hours, once per conversation per day (the inbox's calendar day)."""
    now = timezone.now()
    if inbox_is_open(inbox, at=now):
        return None
    marker = f"{AWAY}{inbox_local_date(inbox, at=now).isoformat()}"
    if Message.objects.filter(chat=chat, sender=None, client_id=marker).exists():
        return None
    return message_post_automated(chat=chat, text=inbox.away_message, client_id=marker)
