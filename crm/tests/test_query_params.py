"""Every GET endpoint of the API, given bad query parameters, answers 400 ``{detail, code}``
(or ignores what it does not read) and never a 5xx — as an admin and as a customer."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.services import message_send
from chats.tests.factories import support_chat
from media.services import media_upload
from media.tests import samples
from operators.models import CannedResponse
from orders.services import order_create

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    "2026-01-01T00:00:00+20:00",
    "9999-12-31T23:59:59-20:00",
    "0001-01-01T00:00:00+20:00",
    "0001-01-01T00:00:00Z",
    "\u00b9",  # superscript one: str.isdigit() says yes, int() says no
    "\u0663",  # Arabic-Indic three
    "a\x00b",
    "-1",
    "9" * 40,
    "nan",
    "",
    "ü" * 300,
]
# Read by some endpoint without being in its schema, or shared by every list.
EXTRA_PARAMS = ["page", "page_size", "q", "role", "availability", "days", "from", "to"]
COMBINATIONS = [
    {"days": "366", "to": "0001-01-01T00:00:00Z"},
    {"days": "366", "from": "0001-01-01T00:00:00Z"},
    {"from": "9999-12-31T23:59:59Z", "to": "0001-01-01T00:00:00Z"},
    {"to": "9999-12-31T23:59:59Z"},
    {"created_after": "9999-12-31T23:59:59Z", "created_before": "0001-01-01T00:00:00Z"},
    {"before": "1", "after": "2"},
    {"page": "99999"},
    {"page": "1", "page_size": "100000"},
]


def _get_operations() -> list[tuple[str, list[str]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        if "get" not in methods or not path.startswith("/api/"):
            continue
        params = [p["name"] for p in methods["get"].get("parameters", []) if p["in"] == "query"]
        operations.append((path, params))
    return operations


@pytest.fixture
def world(organization, admin_user, customer, operator):
    chat = support_chat(customer)
    message = message_send(sender=customer, chat=chat, text="hello", kind="text").message
    order = order_create(actor=admin_user, customer_id=customer.pk, title="Sofa")
    [media] = media_upload(
        uploader=customer, files=[SimpleUploadedFile("p.png", samples.png())], chat=chat
    )
    canned = CannedResponse.objects.create(
        organization=organization, shortcut="hi", text="Hello!", created_by=admin_user
    )
    ids = {
        "chat_id": chat.pk,
        "message_id": message.pk,
        "order_id": order.pk,
        "media_id": media.pk,
        "user_id": operator.pk,
        "inbox_id": chat.inbox_id,
        "response_id": canned.pk,
    }
    return ids


def _fill(path: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def _check(client: APIClient, url: str, params: dict, failures: list) -> None:
    try:
        response = client.get(url, params)
    except Exception as exc:  # the test client re-raises what became a 500
        failures.append((url, params, repr(exc)[:200]))
        return
    if response.status_code >= 500:
        failures.append((url, params, response.content[:200]))
    elif response.status_code == 400:
        body = response.json()
        if not (isinstance(body.get("detail"), str) and body.get("code")):
            failures.append((url, params, body))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CUSTOMER])
def test_bad_query_parameters_never_give_a_server_error(world, organization, role):
    client = APIClient()
    client.force_authenticate(UserFactory(organization=organization, role=role))
    operations = _get_operations()
    assert len(operations) >= 20
    failures: list = []
    for path, documented in operations:
        url = _fill(path, world)
        for name in dict.fromkeys(documented + EXTRA_PARAMS):
            for value in BAD_VALUES:
                _check(client, url, {name: value}, failures)
        for combination in COMBINATIONS:
            _check(client, url, combination, failures)
    assert not failures, "\n".join(map(str, failures[:40]))


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/orders", {"created_after": "2026-01-01T00:00:00+20:00"}),
        ("/api/orders", {"created_before": "9999-12-31T23:59:59-20:00"}),
        ("/api/chats", {"assignee": "\u00b9"}),
        ("/api/chats", {"q": "a\x00b"}),
        ("/api/users/search", {"q": "a\x00b"}),
        ("/api/users", {"role": "a\x00b"}),
        ("/api/users", {"role": "wizard"}),
        ("/api/operators", {"availability": "a\x00b"}),
        ("/api/canned-responses", {"q": "a\x00b"}),
        ("/api/messages/search", {"q": "a\x00b"}),
        ("/api/stats", {"days": "366", "to": "0001-01-01T00:00:00Z"}),
    ],
)
def test_known_bad_parameters_answer_400(world, admin_user, url, params):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.get(url, params)
    assert response.status_code == 400, (url, params, response.content[:300])
    body = response.json()
    assert isinstance(body["detail"], str) and body["code"]
