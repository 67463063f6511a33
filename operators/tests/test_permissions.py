"""Who may do what, through the API: every action for every role, and another organization's
staff get 404 for our objects (never 403: no existence leak)."""

import pytest

from accounts.tests.factories import UserFactory
from chats.tests.factories import support_chat
from operators.models import AuditEvent
from operators.tests.factories import CannedResponseFactory

pytestmark = pytest.mark.django_db

ROLES = ["customer", "operator", "senior_operator", "admin_user", "other_admin"]


@pytest.fixture
def world(organization, customer, operator, senior_operator, admin_user, other_admin):
    chat = support_chat(customer)
    colleague = UserFactory(organization=organization, role="operator")
    return {
        "chat": chat,
        "colleague": colleague,
        "canned": CannedResponseFactory(organization=organization),
        "users": {
            "customer": customer,
            "operator": operator,
            "senior_operator": senior_operator,
            "admin_user": admin_user,
            "other_admin": other_admin,
        },
    }


def assigned_to_colleague(world):
    from operators.services import chat_take

    chat_take(actor=world["colleague"], chat=world["chat"])


# (name, method, url, body, prepare, expected status per role in ROLES order)
CASES = [
    ("assign", "post", "/api/chats/{chat}/assign", {"operator_id": "{colleague}"}, None,
     [403, 403, 200, 200, 404]),
    ("unassign", "post", "/api/chats/{chat}/unassign", None, assigned_to_colleague,
     [403, 403, 200, 200, 404]),
    ("take", "post", "/api/chats/{chat}/take", None, None, [403, 200, 200, 200, 404]),
    ("take assigned", "post", "/api/chats/{chat}/take", None, assigned_to_colleague,
     [403, 409, 409, 409, 404]),
    ("close", "post", "/api/chats/{chat}/close", None, None, [403, 200, 200, 200, 404]),
    ("reopen", "post", "/api/chats/{chat}/reopen", None, None, [403, 200, 200, 200, 404]),
    ("suggestions", "get", "/api/chats/{chat}/suggestions", None, None,
     [403, 200, 200, 200, 404]),
    ("operators", "get", "/api/operators", None, None, [403, 200, 200, 200, 200]),
    ("operator", "get", "/api/operators/{colleague}", None, None, [403, 200, 200, 200, 404]),
    ("set capacity", "patch", "/api/operators/{colleague}", {"capacity": 3}, None,
     [403, 403, 200, 200, 404]),
    ("me", "get", "/api/operators/me", None, None, [403, 200, 200, 200, 200]),
    ("availability", "patch", "/api/operators/me", {"availability": "away"}, None,
     [403, 200, 200, 200, 200]),
    ("canned list", "get", "/api/canned-responses", None, None, [403, 200, 200, 200, 200]),
    ("canned get", "get", "/api/canned-responses/{canned}", None, None,
     [403, 200, 200, 200, 404]),
    ("canned add", "post", "/api/canned-responses", {"shortcut": "new", "text": "Hi"}, None,
     [403, 403, 403, 201, 201]),
    ("canned edit", "patch", "/api/canned-responses/{canned}", {"text": "Hello"}, None,
     [403, 403, 403, 200, 404]),
    ("canned delete", "delete", "/api/canned-responses/{canned}", None, None,
     [403, 403, 403, 204, 404]),
    ("stats", "get", "/api/stats", None, None, [403, 200, 200, 200, 200]),
    ("ai health", "get", "/api/ai/health", None, None, [403, 200, 200, 200, 200]),
]  # fmt: skip


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if value.startswith("{") and filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_permission(world, client_for, case, role_index):
    name, method, url, body, prepare, expected = case
    if prepare:
        prepare(world)
    ids = {
        "chat": world["chat"].pk,
        "colleague": world["colleague"].pk,
        "canned": world["canned"].pk,
    }
    client = client_for(world["users"][ROLES[role_index]])
    audit_before = AuditEvent.objects.count()
    response = getattr(client, method)(_fill(url, ids), _fill(body, ids), format="json")
    assert response.status_code == expected[role_index], response.content
    if response.status_code >= 400:
        assert response.json()["code"]
        assert AuditEvent.objects.count() == audit_before  # refused: nothing recorded


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_anonymous_is_refused(world, api_client, case):
    name, method, url, body, prepare, expected = case
    ids = {
        "chat": world["chat"].pk,
        "colleague": world["colleague"].pk,
        "canned": world["canned"].pk,
    }
    response = getattr(api_client, method)(_fill(url, ids), _fill(body, ids), format="json")
    assert response.status_code == 401
