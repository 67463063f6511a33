"""Inbox automation on web-inbox support chats: greeting, away message, the bot and its
hand-off to operators."""

from __future__ import annotations

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats import hooks
from chats.models import Chat, ChatStatus, Membership, Message, MessageKind
from chats.services import message_post_automated, message_send, support_chat_get_or_create
from operators.models import AuditEvent
from operators.services import chat_close
from operators.tests.factories import CannedResponseFactory, online_operator

pytestmark = pytest.mark.django_db

WEEKDAYS_9_TO_18 = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def say(customer, text: str, **kwargs) -> Message:
    chat, _ = support_chat_get_or_create(customer=customer)
    return message_send(sender=customer, chat=chat, text=text, **kwargs).message


def after(message: Message) -> list[Message]:
    """What the chat got after ``message``, in id order."""
    return list(Message.objects.filter(chat_id=message.chat_id, id__gt=message.pk).order_by("id"))


def automated_texts(chat_id: int) -> list[str]:
    return list(
        Message.objects.filter(chat_id=chat_id, automated=True)
        .order_by("id")
        .values_list("text", flat=True)
    )


# --- Greeting -------------------------------------------------------------------------------


def test_greeting_is_the_first_reply_once(configure, customer):
    configure(greeting="Hi! We usually answer within minutes.")
    first = say(customer, "Hello, I have a question")
    (greeting,) = after(first)
    assert greeting.automated and greeting.sender_id is None
    assert greeting.kind == MessageKind.TEXT and not greeting.staff_only
    assert greeting.text == "Hi! We usually answer within minutes."
    assert greeting.pk > first.pk and greeting.client_id == "automation:greeting"
    second = say(customer, "Are you there?")
    assert after(second) == []
    assert automated_texts(first.chat_id) == ["Hi! We usually answer within minutes."]


def test_greeting_counts_as_unread_for_the_customer_and_moves_last_message(configure, customer):
    configure(greeting="Welcome!")
    first = say(customer, "Hello")
    (greeting,) = after(first)
    chat = Chat.objects.get(pk=first.chat_id)
    assert chat.last_message_id == greeting.pk and chat.last_public_message_id == greeting.pk
    assert chat.first_response_at is None  # a person's first response is still to come
    assert Membership.objects.get(chat=chat, user=customer).unread_count == 1


def test_a_reopened_chat_is_not_greeted_again(configure, customer, operator):
    configure(greeting="Welcome!")
    first = say(customer, "Hello")
    message_send(sender=operator, chat=first.chat, text="Hi, how can I help?")
    chat_close(actor=operator, chat=first.chat)
    again = say(customer, "Me again, a new question")
    assert Chat.objects.get(pk=again.chat_id).status == ChatStatus.OPEN  # reopened
    assert after(again) == []
    assert automated_texts(first.chat_id) == ["Welcome!"]


def test_staff_and_notes_never_trigger_automation(configure, customer, operator):
    configure(greeting="Welcome!", bot_enabled=True)
    chat, _ = support_chat_get_or_create(customer=customer)
    note = message_send(sender=operator, chat=chat, text="VIP, be nice", kind="note").message
    staff = message_send(sender=operator, chat=chat, text="Hello! Anything I can do?").message
    assert after(note) == [staff] and after(staff) == []
    # A person answered first: the customer's reply opens nothing new and the bot stays out.
    reply = say(customer, "Yes, the delivery price")
    assert after(reply) == []


# --- Away message ---------------------------------------------------------------------------


def test_away_message_outside_hours_once_a_day(configure, customer, clock):
    configure(
        away_message="We are closed now and answer from 9:00.",
        working_hours=WEEKDAYS_9_TO_18,
        timezone="Europe/Moscow",
    )
    clock("2026-12-01 20:15", "Europe/Moscow")  # a Tuesday evening in Moscow
    first = say(customer, "Hello?")
    (away,) = after(first)
    assert away.automated and away.text == "We are closed now and answer from 9:00."
    assert away.client_id == "automation:away:2026-12-01"
    clock("2026-12-01 23:59", "Europe/Moscow")
    assert after(say(customer, "Anyone?")) == []  # the same day at the inbox: once
    clock("2026-12-02 00:10", "Europe/Moscow")  # 21:10 UTC on the 1st: already the 2nd there
    (again,) = after(say(customer, "Still waiting"))
    assert again.client_id == "automation:away:2026-12-02"


def test_no_away_message_inside_hours(configure, customer, clock):
    configure(away_message="Closed.", working_hours=WEEKDAYS_9_TO_18, timezone="Europe/Moscow")
    clock("2026-12-01 09:00", "Europe/Moscow")  # opening time counts as open
    assert after(say(customer, "Good morning")) == []
    clock("2026-12-01 17:59", "Europe/Moscow")
    assert after(say(customer, "Before you close")) == []
    clock("2026-12-01 18:00", "Europe/Moscow")  # the end does not
    assert [m.text for m in after(say(customer, "Just missed you"))] == ["Closed."]


def test_a_day_without_hours_is_closed_and_no_hours_means_always_open(configure, customer, clock):
    configure(away_message="Closed.", working_hours=WEEKDAYS_9_TO_18, timezone="UTC")
    clock("2026-12-05 12:00")  # Saturday
    assert [m.text for m in after(say(customer, "Weekend question"))] == ["Closed."]
    configure(working_hours={})
    clock("2026-12-06 03:00")  # Sunday night, but the inbox keeps no hours
    assert after(say(customer, "Night question")) == []


def test_away_message_follows_daylight_saving_time(configure, customer, clock):
    configure(
        away_message="Closed.",
        working_hours={"mon": [["09:00", "18:00"]]},
        timezone="Europe/Berlin",
    )
    # 07:30 UTC is 08:30 in Berlin in winter (UTC+1) but 09:30 in summer (UTC+2).
    clock("2026-03-23 07:30", "UTC")  # Monday before the switch on 29 March
    assert [m.text for m in after(say(customer, "Winter Monday"))] == ["Closed."]
    clock("2026-03-30 07:30", "UTC")  # Monday after it
    assert after(say(customer, "Summer Monday")) == []


def test_greeting_comes_before_the_away_message(configure, customer, clock):
    configure(greeting="Hello!", away_message="Closed.", working_hours=WEEKDAYS_9_TO_18)
    clock("2026-12-01 22:00")
    first = say(customer, "Hi")
    assert [m.client_id for m in after(first)] == [
        "automation:greeting",
        "automation:away:2026-12-01",
    ]


# --- Bot ------------------------------------------------------------------------------------


@pytest.fixture
def bot(configure, organization):
    CannedResponseFactory(
        organization=organization,
        shortcut="доставка",
        text="Доставку по России отправляем за 3–5 дней, стоимость доставки — 300 ₽.",
    )
    CannedResponseFactory(
        organization=organization,
        shortcut="refund",
        text="Refunds reach your card within 5 to 7 days.",
    )
    CannedResponseFactory(
        organization=organization, shortcut="оплата", text="Оплатить заказ можно картой или СБП."
    )
    return configure(bot_enabled=True)


def _handed_off(chat_id: int, *, reason: str) -> Chat:
    chat = Chat.objects.get(pk=chat_id)
    assert chat.status == ChatStatus.OPEN
    audit = AuditEvent.objects.get(verb="chat.handed_off", target_id=str(chat_id))
    assert audit.actor is None and audit.data["reason"] == reason
    assert Message.objects.filter(
        chat_id=chat_id,
        kind=MessageKind.SYSTEM,
        staff_only=True,
        text__startswith="The bot handed the conversation to operators",
    ).exists()
    return chat


def test_a_bot_conversation_starts_pending_and_unassigned(bot, customer, organization):
    operator = online_operator(organization)
    chat, created = support_chat_get_or_create(customer=customer)
    assert created and chat.status == ChatStatus.PENDING and chat.assignee_id is None
    chat.refresh_from_db()
    assert chat.assignee_id is None
    assert not AuditEvent.objects.filter(verb="chat.auto_assigned").exists()
    assert operator.assigned_chats.count() == 0


def test_bot_answers_from_a_russian_canned_response_with_other_word_endings(bot, customer):
    asked = say(customer, "Сколько стоит доставку в Казань?")  # "доставку", not "доставка"
    (answer,) = after(asked)
    assert answer.automated and answer.sender_id is None and answer.kind == MessageKind.TEXT
    assert answer.text.startswith("Доставку по России отправляем за 3–5 дней")
    assert "напишите «оператор»" in answer.text  # says how to reach a person, in Russian
    assert answer.client_id == "automation:bot:1"
    chat = Chat.objects.get(pk=asked.chat_id)
    assert chat.status == ChatStatus.PENDING and chat.assignee_id is None


def test_bot_answers_in_english_and_names_an_english_keyword(bot, customer):
    (answer,) = after(say(customer, "How long do refunds take?"))
    assert answer.text.startswith("Refunds reach your card")
    assert "write “operator”" in answer.text


def test_handoff_words_move_the_chat_to_an_online_operator(bot, customer, organization):
    operator = online_operator(organization)
    asked = say(customer, "Позовите оператора, пожалуйста")  # "оператора": another ending
    notice, *lines = after(asked)
    assert notice.automated and "Передаю разговор оператору" in notice.text
    assert [m.kind for m in lines] == [MessageKind.SYSTEM, MessageKind.SYSTEM]
    assert all(m.staff_only for m in lines)  # why, and to whom: for staff
    chat = _handed_off(asked.chat_id, reason="asked_for_person")
    assert chat.assignee_id == operator.pk
    assert AuditEvent.objects.filter(verb="chat.auto_assigned", target_id=str(chat.pk)).exists()


@pytest.mark.parametrize("text", ["/operator", "/operator@acme_bot", "Can I talk to a human?"])
def test_commands_and_english_handoff_words(bot, customer, text):
    asked = say(customer, text)
    _handed_off(asked.chat_id, reason="asked_for_person")


def test_configured_handoff_keywords_replace_the_defaults(bot, customer, configure):
    configure(handoff_keywords=["живой человек"])
    asked = say(customer, "Оператор")  # no longer a handoff word: nothing to look it up by
    assert Chat.objects.get(pk=asked.chat_id).status == ChatStatus.OPEN  # unanswerable
    assert AuditEvent.objects.get(verb="chat.handed_off").data["reason"] == "unanswered"
    other = UserFactory(organization=customer.organization, role=Role.CUSTOMER)
    phrase = say(other, "Дайте живого человека")
    _handed_off(phrase.chat_id, reason="asked_for_person")


def test_an_unanswerable_question_goes_to_people(bot, customer, organization):
    operator = online_operator(organization)
    asked = say(customer, "Мой кот перегрыз провод зарядки")
    notice = after(asked)[0]
    assert notice.automated and notice.text.startswith("Я не нашёл ответа")
    chat = _handed_off(asked.chat_id, reason="unanswered")
    assert chat.assignee_id == operator.pk


def test_the_second_bot_answer_hands_the_conversation_over(bot, customer, organization):
    operator = online_operator(organization)
    first = say(customer, "Как оплатить заказ?")
    assert [m.client_id for m in after(first)] == ["automation:bot:1"]
    second = say(customer, "А доставка сколько стоит?")
    answer, *lines = after(second)
    assert answer.client_id == "automation:bot:2"
    assert answer.text.startswith("Доставку по России")
    assert answer.text.endswith("К разговору подключится оператор.")
    assert len(lines) == 2 and all(m.kind == MessageKind.SYSTEM for m in lines)
    chat = _handed_off(first.chat_id, reason="second_answer")
    assert chat.assignee_id == operator.pk
    # People have it now: the bot stays quiet.
    assert after(say(customer, "Спасибо, а оплата картой?")) == []


def test_a_greeting_alone_gets_the_bots_prompt_and_is_not_counted(bot, customer):
    hello = say(customer, "Привет!")
    (prompt,) = after(hello)
    assert prompt.automated and prompt.text.startswith("Я автоматический помощник")
    assert Chat.objects.get(pk=hello.chat_id).status == ChatStatus.PENDING
    asked = say(customer, "Как оплатить?")
    assert [m.client_id for m in after(asked)] == ["automation:bot:1"]  # the first answer


def test_a_photo_without_words_goes_to_people(bot, customer):
    from media.models import MediaFile

    chat, _ = support_chat_get_or_create(customer=customer)
    photo = MediaFile.objects.create(
        organization=customer.organization,
        uploader=customer,
        original_name="broken.png",
        mime="image/png",
        kind="image",
        size=1,
        sha256="0" * 64,
    )
    sent = message_send(sender=customer, chat=chat, kind="image", attachment_ids=[photo.pk])
    _handed_off(sent.message.chat_id, reason="unanswered")


def test_the_bot_stays_out_once_a_person_took_the_chat(bot, customer, operator, senior_operator):
    from operators.services import chat_assign

    chat, _ = support_chat_get_or_create(customer=customer)
    chat_assign(actor=senior_operator, chat=chat, operator_id=operator.pk)
    assert after(say(customer, "Сколько стоит доставка?")) == []


def test_turning_the_bot_off_hands_waiting_conversations_to_people(bot, customer, configure):
    chat, _ = support_chat_get_or_create(customer=customer)
    configure(bot_enabled=False)
    asked = say(customer, "Сколько стоит доставка?")
    assert not Message.objects.filter(chat=chat, automated=True).exists()
    _handed_off(asked.chat_id, reason="bot_disabled")


def test_bot_and_away_message_outside_hours(bot, customer, configure, clock):
    configure(away_message="Closed.", working_hours=WEEKDAYS_9_TO_18)
    clock("2026-12-01 22:00")
    answered = say(customer, "Сколько стоит доставка?")
    assert [m.client_id for m in after(answered)] == ["automation:bot:1"]  # the bot is on duty
    handed = say(customer, "оператор")
    assert [m.client_id for m in after(handed) if m.automated] == [
        f"automation:handoff:{handed.pk}",
        "automation:away:2026-12-01",  # people are away: said once they have the chat
    ]


# --- Delivery to other apps -----------------------------------------------------------------


def test_automated_replies_go_through_the_message_stored_hook(configure, customer):
    """Other apps (a channel sending replies out) hear of the customer's message first."""
    seen: list[tuple[int, bool]] = []

    def callback(message):
        seen.append((message.pk, message.automated))

    hooks.on_message_stored(callback)
    try:
        configure(greeting="Welcome!")
        first = say(customer, "Hello")
    finally:
        hooks._message_stored.remove(callback)
    (greeting,) = after(first)
    assert seen == [(first.pk, False), (greeting.pk, True)]


def test_a_fault_in_automation_keeps_the_customers_message(configure, customer, monkeypatch):
    from automation import services

    def broken(*, message, inbox):
        message_post_automated(chat=message.chat, text="half-done")
        raise RuntimeError("boom")

    configure(greeting="Welcome!")
    monkeypatch.setattr(services, "automation_respond", broken)
    first = say(customer, "Hello")
    assert Message.objects.filter(pk=first.pk).exists()
    assert after(first) == []  # what automation did before the fault is rolled back


def test_message_new_events_carry_automated_in_order(
    configure, customer, captured, django_capture_on_commit_callbacks
):
    configure(greeting="Welcome!")
    with django_capture_on_commit_callbacks(execute=True):
        first = say(customer, "Hello")
    new = [
        (data["id"], data["automated"], groups)
        for t, data, groups in captured
        if t == "message:new"
    ]
    (greeting,) = after(first)
    assert [(i, a) for i, a, _ in new] == [(first.pk, False), (greeting.pk, True)]
    assert f"user.{customer.pk}" in "".join(new[1][2])  # the customer hears it


def test_hand_off_tells_staff_and_the_customer_the_new_state(
    bot, customer, organization, captured, django_capture_on_commit_callbacks
):
    operator = online_operator(organization)
    support_chat_get_or_create(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        asked = say(customer, "оператор")
    updates = [(d, g) for t, d, g in captured if t == "chat:updated"]
    to_customer = [d for d, g in updates if g == (f"user.{customer.pk}",)]
    to_staff = [d for d, g in updates if g == (f"staff.{organization.pk}",)]
    assert to_customer[0]["status"] == "open" and to_staff[-1]["assignee"]["id"] == operator.pk
    notice = after(asked)[0]
    assert to_customer[0]["last_message"]["id"] == notice.pk  # never a staff-only line
    assert all(not d["last_message"]["staff_only"] for d in to_customer)
