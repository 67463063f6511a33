"""The OpenAPI schema describes what the server sends: every JSON success response has a
described shape, and real responses of the main endpoints validate against it."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from schemathesis.core.transport import Response

from chats.services import message_send
from chats.tests.factories import support_chat
from orders.services import order_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def test_every_json_success_response_has_a_shape(openapi):
    vague = []
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status in ("204", "205"):
                    continue
                content = response.get("content", {}).get("application/json")
                if content is None:
                    if "content" not in response:
                        vague.append(f"{method.upper()} {path} {status}: no body described")
                    continue
                body = _resolve(openapi, content["schema"])
                if not (body.get("properties") or body.get("items") or body.get("allOf")):
                    vague.append(f"{method.upper()} {path} {status}: {body}")
    assert not vague, "\n".join(vague)


def test_every_operation_documents_the_error_shape(openapi):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            for status in ("400", "401", "403", "404", "429"):
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert sorted(_resolve(openapi, body)["required"]) == ["code", "detail"], (
                    path,
                    method,
                )


def _as_response(response, url: str) -> Response:
    """The test client's response as the response Schemathesis validates."""
    return Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=requests.Request("GET", f"http://testserver{url}").prepare(),
        elapsed=0.0,
        message="",
        encoding="utf-8",
        http_version="1.1",
        verify=False,
    )


@pytest.mark.parametrize("role", ["admin", "customer"])
def test_real_responses_match_the_schema(openapi, role, admin_user, customer, operator):
    chat = support_chat(customer)
    message_send(sender=customer, chat=chat, text="Hello", kind="text")
    message_send(sender=operator, chat=chat, text="internal", kind="note")
    order = order_create(actor=admin_user, customer_id=customer.pk, title="Sofa")
    schema = schemathesis.openapi.from_dict(openapi)
    client = APIClient()
    client.force_authenticate(admin_user if role == "admin" else customer)
    paths = [
        ("/api/users", "/api/users"),
        ("/api/users/search", "/api/users/search?q=a"),
        ("/api/users/{user_id}", f"/api/users/{operator.pk}"),
        ("/api/auth/me", "/api/auth/me"),
        ("/api/chats", "/api/chats"),
        ("/api/chats/{chat_id}", f"/api/chats/{chat.pk}"),
        ("/api/chats/{chat_id}/messages", f"/api/chats/{chat.pk}/messages"),
        ("/api/orders", "/api/orders"),
        ("/api/orders/{order_id}", f"/api/orders/{order.pk}"),
        ("/api/unread/counts", "/api/unread/counts"),
        ("/api/operators", "/api/operators"),
        ("/api/stats", "/api/stats"),
        ("/api/inboxes", "/api/inboxes"),
        ("/api/messages/search", "/api/messages/search?q=hello"),
    ]
    checked = 0
    for template, url in paths:
        response = client.get(url)
        assert response.status_code < 500, url
        schema[template]["GET"].validate_response(_as_response(response, url))
        checked += response.status_code == 200
    assert checked >= (14 if role == "admin" else 8)
