"""The conversation list at /admin/inbox/: who may open it, what each tab and filter lists,
and what it costs in queries."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatStatus, InboxKind
from chats.services import message_send, support_chat_get_or_create
from chats.tests.factories import InboxFactory
from media.models import MediaFile
from operators.services import chat_assign
from workspace.selectors import INBOX_PAGE_SIZE

pytestmark = pytest.mark.django_db

INBOX = "/admin/inbox/"


def _chat(organization, *, name: str, text: str = "Hello", subject: str = "", inbox=None):
    customer = UserFactory(organization=organization, role=Role.CUSTOMER, name=name)
    chat, _ = support_chat_get_or_create(customer=customer, inbox=inbox, subject=subject)
    if text:
        message_send(sender=customer, chat=chat, text=text)
    return chat


def _row_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="row[^"]*" data-chat-id="(\d+)"', response.text)]


def _state(response) -> dict:
    match = re.search(
        r'<script id="inbox-state" type="application/json">(.*?)</script>', response.text, re.S
    )
    return json.loads(match.group(1))


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


# --- Access -------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client, organization):
    _chat(organization, name="Secret Sam")
    response = client.get(INBOX)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    counts = client.get(reverse("workspace-inbox-counts"))
    assert counts.status_code == 302


def test_a_customer_is_refused(client, customer, organization):
    _chat(organization, name="Secret Sam", text="my private question")
    client.force_login(customer)
    response = client.get(INBOX)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(f"{INBOX}counts/").status_code == 302


def test_staff_see_the_list_with_tabs_and_links(staff_client, organization, admin_user):
    chat = _chat(organization, name="Paula Customer", text="Where is my parcel?")
    chat_assign(actor=admin_user, chat=chat, operator_id=admin_user.pk)
    response = staff_client.get(INBOX)
    assert response.status_code == 200
    html = response.text
    for label in ("Mine", "Unassigned", "All"):
        assert f">{label} <span" in html
    assert reverse("workspace-conversation", args=[chat.pk]) in html
    assert "Paula Customer" in html and "Where is my parcel?" in html
    assert "workspace/inbox.js" in html and "workspace/notify.js" in html
    assert f'name="crm-user-id" content="{admin_user.pk}"' in html


def test_another_organizations_chats_are_never_listed(
    staff_client, organization, other_organization
):
    mine = _chat(organization, name="Our Customer")
    theirs = _chat(other_organization, name="Their Customer", text="globex secret")
    for params in ("?tab=all", "?tab=unassigned", "?tab=all&status=any", "?tab=all&q=Their"):
        response = staff_client.get(INBOX + params)
        assert theirs.pk not in _row_ids(response)
        assert "Their Customer" not in response.text and "globex secret" not in response.text
    assert _row_ids(staff_client.get(INBOX + "?tab=all")) == [mine.pk]
    # Their inbox is not offered as a filter, and filtering by it shows nothing of theirs.
    response = staff_client.get(f"{INBOX}?tab=all&inbox={theirs.inbox_id}")
    assert _row_ids(response) == []
    assert staff_client.get(f"{INBOX}counts/?tab=all&status=any").json()["all"] == 1


# --- Tabs and filters ---------------------------------------------------------------------


@pytest.fixture
def spread(organization, admin_user, operator):
    """Four chats: mine, the operator's, unassigned, and a closed one of mine."""
    mine = _chat(organization, name="Mina Mine", subject="Refund please")
    theirs = _chat(organization, name="Otto Other")
    waiting = _chat(organization, name="Wanda Waiting", text="anyone there?")
    closed = _chat(organization, name="Carl Closed")
    chat_assign(actor=admin_user, chat=mine, operator_id=admin_user.pk)
    chat_assign(actor=admin_user, chat=theirs, operator_id=operator.pk)
    chat_assign(actor=admin_user, chat=closed, operator_id=admin_user.pk)
    Chat.objects.filter(pk=closed.pk).update(status=ChatStatus.CLOSED)
    return {"mine": mine, "theirs": theirs, "waiting": waiting, "closed": closed}


def test_tabs_list_what_they_say_newest_first(staff_client, spread):
    assert _row_ids(staff_client.get(INBOX)) == [spread["mine"].pk]  # Mine is the default
    assert _row_ids(staff_client.get(INBOX + "?tab=unassigned")) == [spread["waiting"].pk]
    # Newest activity first: the assignments came after the customers' messages.
    assert _row_ids(staff_client.get(INBOX + "?tab=all")) == [
        spread["theirs"].pk,
        spread["mine"].pk,
        spread["waiting"].pk,
    ]
    response = staff_client.get(INBOX + "?tab=all")
    assert re.findall(r'data-count="(\w+)">(\d+)<', response.text) == [
        ("mine", "1"),
        ("unassigned", "1"),
        ("all", "3"),
    ]


def test_filters_narrow_the_list(staff_client, spread, operator, organization):
    telegram = InboxFactory(organization=organization, kind=InboxKind.TELEGRAM, name="Bot")
    tg_chat = _chat(organization, name="Tara Telegram", inbox=telegram)
    Chat.objects.filter(pk=spread["theirs"].pk).update(priority="urgent")

    def ids(params: str) -> list[int]:
        return _row_ids(staff_client.get(INBOX + params))

    assert ids("?tab=all&status=closed") == [spread["closed"].pk]
    assert ids("?tab=mine&status=any") == [spread["closed"].pk, spread["mine"].pk]
    assert ids("?tab=all&priority=urgent") == [spread["theirs"].pk]
    assert ids(f"?tab=all&inbox={telegram.pk}") == [tg_chat.pk]
    assert ids(f"?tab=all&assignee={operator.pk}") == [spread["theirs"].pk]
    # Search: customer name, email, subject.
    assert ids("?tab=all&q=wanda") == [spread["waiting"].pk]
    email = spread["theirs"].customer.email
    assert ids(f"?tab=all&q={email}") == [spread["theirs"].pk]
    assert ids("?tab=all&q=refund") == [spread["mine"].pk]
    assert ids("?tab=all&q=nobody-like-this") == []
    counts = staff_client.get(f"{INBOX}counts/?status=any").json()
    assert counts == {"mine": 2, "unassigned": 2, "all": 5}


def test_the_live_list_gets_the_same_filters_for_the_api(staff_client, spread, operator):
    state = _state(staff_client.get(f"{INBOX}?tab=all&priority=high&assignee={operator.pk}&q=x"))
    assert state["api_params"] == {
        "kind": "support",
        "status": "open,pending",
        "priority": "high",
        "q": "x",
        "assignee": str(operator.pk),
    }
    assert _state(staff_client.get(INBOX))["api_params"]["assignee"] == "me"
    assert _state(staff_client.get(INBOX + "?tab=unassigned"))["api_params"]["assigned"] == "false"
    # What the page embeds for the live list is what the API returns for the same filters.
    state = _state(staff_client.get(INBOX + "?tab=all"))
    api = staff_client.get("/api/chats", state["api_params"]).json()
    assert [c["id"] for c in api["results"]] == [c["id"] for c in state["chats"]]


@pytest.mark.parametrize(
    "params",
    [
        "?tab=bogus",
        "?status=zzz",
        "?priority=maximum",
        "?inbox=abc",
        "?assignee=-4",
        "?q=" + "x" * 500,
        "?inbox=99999999999999999999",
    ],
)
def test_bad_parameters_fall_back_and_never_fail(staff_client, spread, params):
    response = staff_client.get(INBOX + params)
    assert response.status_code == 200
    assert staff_client.get(f"{INBOX}counts/{params}").status_code == 200


def test_rows_show_unread_note_and_assignee(staff_client, organization, admin_user, operator):
    chat = _chat(organization, name="Nora Note", text="first")
    message_send(sender=chat.customer, chat=chat, text="second")
    chat_assign(actor=admin_user, chat=chat, operator_id=operator.pk)
    message_send(sender=operator, chat=chat, text="VIP, be nice", kind="note")
    response = staff_client.get(INBOX + "?tab=all")
    row = response.text[response.text.index(f'data-chat-id="{chat.pk}"') :]
    row = row[: row.index("</li>")]
    assert 'class="note-tag"' in row and "VIP, be nice" not in row.split("Note</span>")[0]
    assert "VIP, be nice" in row
    # Unread for me: the customer's two messages and the colleague's note.
    assert re.search(r'class="unread-badge"[^>]*>3<', row)
    assert operator.name in row
    assert "chan-web" in row
    assert "is-online" not in row
    chat.customer.__class__.objects.filter(pk=chat.customer_id).update(is_online=True)
    assert 'class="avatar is-online"' in staff_client.get(INBOX + "?tab=all").text


def test_a_page_is_bounded_with_load_more(staff_client, organization):
    for i in range(INBOX_PAGE_SIZE + 3):
        _chat(organization, name=f"Customer {i}", text="")
    response = staff_client.get(INBOX + "?tab=unassigned")
    assert len(_row_ids(response)) == INBOX_PAGE_SIZE
    assert 'id="load-more">' in response.text  # shown, not hidden
    assert _state(response)["has_more"] is True
    assert f">{INBOX_PAGE_SIZE + 3}</span>" in response.text  # the tab's count is the total


def test_empty_states_say_what_to_do(staff_client, organization):
    assert "Take one from" in staff_client.get(INBOX).text
    assert "No conversation is waiting" in staff_client.get(INBOX + "?tab=unassigned").text
    assert "Nothing matches these filters" in staff_client.get(INBOX + "?tab=all&q=zz").text


# --- Query budgets ------------------------------------------------------------------------


def _media(user) -> MediaFile:
    return MediaFile.objects.create(
        organization=user.organization,
        uploader=user,
        original_name="p.png",
        mime="image/png",
        kind="image",
        size=1,
        sha256="0" * 64,
    )


def _fill(n: int, organization, admin_user, operator) -> None:
    for i in range(n):
        customer = UserFactory(organization=organization, role=Role.CUSTOMER)
        chat, _ = support_chat_get_or_create(customer=customer, subject=f"Question {i}")
        message_send(sender=customer, chat=chat, kind="image", attachment_ids=[_media(customer).pk])
        if i % 3 == 0:
            chat_assign(actor=admin_user, chat=chat, operator_id=admin_user.pk)
        elif i % 3 == 1:
            chat_assign(actor=admin_user, chat=chat, operator_id=operator.pk)
            message_send(sender=operator, chat=chat, text="note", kind="note")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("tab", ["mine", "unassigned", "all"])
def test_the_list_costs_the_same_queries_for_5_and_50_chats(
    staff_client, organization, admin_user, operator, tab, django_assert_num_queries
):
    _fill(5, organization, admin_user, operator)
    url = f"{INBOX}?tab={tab}&status=any"
    small = _queries(staff_client, url)
    _fill(45, organization, admin_user, operator)
    assert len(_row_ids(staff_client.get(url))) >= 15
    with django_assert_num_queries(small):
        staff_client.get(url)
    assert small <= 14, small


def test_an_automated_reply_is_marked_in_the_preview(staff_client, organization):
    from chats.models import Message

    chat = _chat(organization, name="Ann Auto", text="Are you open on Sunday?")
    Message.objects.filter(chat=chat).update(automated=True, sender=None)
    html = staff_client.get(INBOX + "?tab=all").text
    row = html[html.index(f'data-chat-id="{chat.pk}"') :]
    assert "Automated reply:</span> Are you open on Sunday?" in row[: row.index("</li>")]
