"""Query budget of the send path: a text message into a support chat costs at most
``SEND_QUERIES`` SQL statements for the whole request (authentication, the transaction, the
chat lock, the insert, read pointers and counters, the hooks of other apps), whoever sends it,
whatever the number of staff, with or without a ``client_id``. On failure the statements are
listed."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatStatus, Membership, Message

pytestmark = pytest.mark.django_db

# auth user; the transaction's two statements (a savepoint in tests, BEGIN/COMMIT on SQLite);
# the chat locked (with the client_id twin check and whether staff read pointers are missing);
# the insert; the chat's last message fields; every read pointer and count in one UPDATE
# (nobody else's count or total is read back: clients count from message:new); the sender's
# own count, zeroed with their total returned, only when it was not zero
SEND_QUERIES = 8


def _listing(ctx) -> str:
    return "\n".join(f"{i}. {q['sql']}" for i, q in enumerate(ctx.captured_queries, start=1))


@pytest.fixture
def send_budget(django_assert_max_num_queries):
    """``with send_budget(n) as ctx``: at most ``n`` queries, all of them listed when not."""

    @contextmanager
    def budget(n: int = SEND_QUERIES):
        ctx = None
        try:
            with django_assert_max_num_queries(n) as ctx:
                yield ctx
        except pytest.fail.Exception:
            print(f"{len(ctx.captured_queries)} queries, budget {n}:\n{_listing(ctx)}")  # noqa: T201
            raise

    return budget


def _post(client, chat_id: int, **data):
    return client.post(f"/api/chats/{chat_id}/messages", data, format="json")


@pytest.fixture
def staff(organization):
    return [UserFactory(organization=organization, role=Role.OPERATOR) for _ in range(5)]


@pytest.mark.parametrize("client_id", ["c-1", None])
def test_customer_message_budget(
    client_for, customer, operator, support, staff, client_id, send_budget
):
    customer_client, operator_client = client_for(customer), client_for(operator)
    assert _post(customer_client, support.pk, text="first").status_code == 201
    # The customer has something unread when writing again: the costlier case.
    assert _post(operator_client, support.pk, text="reply").status_code == 201
    assert Membership.objects.get(chat=support, user=customer).unread_count == 1

    with send_budget():
        response = _post(customer_client, support.pk, text="hi", client_id=client_id)

    assert response.status_code == 201, response.content
    assert Membership.objects.get(chat=support, user=customer).unread_count == 0
    assert Membership.objects.get(chat=support, user=staff[0]).unread_count == 3
    chat = Chat.objects.get(pk=support.pk)
    assert chat.last_message_id == response.json()["id"] == chat.last_public_message_id


@pytest.mark.parametrize("client_id", ["r-1", None])
def test_staff_reply_budget(client_for, customer, operator, support, staff, client_id, send_budget):
    customer_client, operator_client = client_for(customer), client_for(operator)
    assert _post(operator_client, support.pk, text="hello").status_code == 201
    assert _post(customer_client, support.pk, text="question").status_code == 201

    with send_budget():
        response = _post(operator_client, support.pk, text="answer", client_id=client_id)

    assert response.status_code == 201, response.content
    assert Membership.objects.get(chat=support, user=operator).unread_count == 0
    assert Membership.objects.get(chat=support, user=customer).unread_count == 1
    assert Membership.objects.get(chat=support, user=staff[0]).unread_count == 3


@pytest.mark.django_db(transaction=True)
def test_budget_without_a_test_transaction(client_for, customer, operator, support, send_budget):
    """As a server runs it: the send's own transaction is the outermost one."""
    customer_client = client_for(customer)
    assert _post(client_for(operator), support.pk, text="hello").status_code == 201
    with send_budget():
        response = _post(customer_client, support.pk, text="hi", client_id="x")
    assert response.status_code == 201


def test_read_pointers_of_new_staff_cost_two_more(
    client_for, organization, customer, operator, support, send_budget
):
    """A staff member who joined since the last message gets a read pointer row: the one
    send that notices pays for finding and creating it."""
    client = client_for(customer)
    assert _post(client, support.pk, text="one").status_code == 201
    newcomer = UserFactory(organization=organization, role=Role.OPERATOR)

    with send_budget(SEND_QUERIES + 2):
        response = _post(client, support.pk, text="two")

    assert response.status_code == 201
    assert Membership.objects.get(chat=support, user=newcomer).unread_count == 1
    with send_budget():
        assert _post(client, support.pk, text="three").status_code == 201
    assert Membership.objects.get(chat=support, user=newcomer).unread_count == 2


def test_reopening_a_closed_chat_still_works(client_for, customer, operator, support):
    assert _post(client_for(customer), support.pk, text="one").status_code == 201
    Chat.objects.filter(pk=support.pk).update(status=ChatStatus.CLOSED)

    response = _post(client_for(customer), support.pk, text="again")

    assert response.status_code == 201
    assert Chat.objects.get(pk=support.pk).status == ChatStatus.OPEN


def test_retry_with_the_same_client_id_stores_nothing(client_for, customer, support, send_budget):
    client = client_for(customer)
    first = _post(client, support.pk, text="hi", client_id="same")
    with send_budget():
        again = _post(client, support.pk, text="hi", client_id="same")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Message.objects.filter(chat=support, client_id="same").count() == 1


def test_websocket_send_uses_the_same_path(customer, operator, support, staff, send_budget):
    """``message:send`` over either socket transport runs the request handler's worker
    function: the same service, which reads the chat itself (no authentication per message)."""
    from chats.realtime import _message_send

    data = {"chat_id": support.pk, "kind": "text", "attachment_ids": []}
    _message_send(operator, {**data, "text": "hello"})
    with send_budget():
        sent = _message_send(customer, {**data, "text": "over the socket", "client_id": "ws-1"})
    assert sent["text"] == "over the socket"
    assert Membership.objects.get(chat=support, user=operator).unread_count == 1
