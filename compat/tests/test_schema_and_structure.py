"""Every seed path is in the OpenAPI schema as a deprecated alias naming its canonical
operation; the input adapter renames the seeds' names; nothing imports compat."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.http import QueryDict
from drf_spectacular.generators import SchemaGenerator

from compat.adapters import canonical_names

ROOT = Path(__file__).resolve().parents[2]

SEED_PATHS = [
    ("put", "/api/auth/profile"),
    ("put", "/api/chats/{chat_id}/read"),
    ("get", "/api/users/me"),
    ("get", "/api/messages/chat/{chat_id}"),
    ("post", "/api/messages/chat/{chat_id}/read"),
    ("post", "/api/upload"),
    ("post", "/api/upload/multiple"),
    ("post", "/api/files/upload"),
    ("get", "/api/files/uploads/{media_id}"),
    ("post", "/api/media/upload"),
    ("post", "/api/media/send"),
    ("get", "/api/chat/conversations"),
    ("get", "/api/chat/messages/{chat_id}"),
    ("post", "/api/chat/send"),
    ("post", "/api/chat/mark-read"),
    ("get", "/api/chat/project"),
    ("get", "/api/chat/direct"),
    ("post", "/api/chat/direct/create"),
    ("post", "/api/chat-assignment/{chat_id}/assign"),
    ("delete", "/api/chat-assignment/{chat_id}/unassign"),
    ("get", "/api/chat-assignment/assigned"),
    ("get", "/api/chat-assignment/unassigned"),
    ("post", "/api/chat-assignment/{chat_id}/close"),
    ("post", "/api/unread/{chat_id}/mark-read"),
    ("post", "/api/unread/{chat_id}/mark-chat-read"),
    ("get", "/api/unread/chats"),
    ("get", "/api/ai/suggestions/{chat_id}"),
    ("put", "/api/orders/{chat_id}/{order_index}/status"),
    ("delete", "/api/orders/{chat_id}/{order_index}"),
]
# On the seed's list, and our own operations already: not aliases.
OUR_OWN = [("post", "/api/chats/{chat_id}/take"), ("post", "/api/chats/{chat_id}/close")]


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_seed_path_is_a_documented_alias(openapi):
    for method, path in SEED_PATHS:
        operation = openapi["paths"][path][method]
        assert operation["deprecated"] is True, (method, path)
        assert operation["description"].startswith("Alias of `"), (method, path)
        canonical = operation["description"].split("`")[1]
        canonical_method, canonical_path = canonical.split(" ")[:2]
        canonical_path = canonical_path.split("?")[0].rstrip(",")
        assert canonical_method.lower() in openapi["paths"][canonical_path], canonical


def test_our_own_operations_stay_canonical(openapi):
    for method, path in OUR_OWN:
        assert not openapi["paths"][path][method].get("deprecated"), path
    # The path shared with a seed keeps our POST beside the alias's PUT.
    assert not openapi["paths"]["/api/chats/{chat_id}/read"]["post"].get("deprecated")


def test_alias_requests_document_the_seeds_names(openapi):
    schemas = openapi["components"]["schemas"]
    send = openapi["paths"]["/api/chat/send"]["post"]["requestBody"]["content"]
    ref = send["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[ref]["properties"]) == {
        "conversationId",
        "content",
        "type",
        "attachmentIds",
        "clientId",
    }
    assert schemas[ref]["required"] == ["conversationId"]


def test_canonical_names_renames_json_and_forms():
    assert canonical_names(
        {"chatId": 3, "content": "hi", "messageType": "image", "clientId": "c", "extra": 1}
    ) == {"chat_id": 3, "text": "hi", "kind": "image", "client_id": "c", "extra": 1}
    # Ours wins over a seed name; "private" is a direct chat.
    assert canonical_names({"chat_id": 1, "conversationId": 2, "type": "private"}) == {
        "chat_id": 1,
        "kind": "direct",
    }
    form = canonical_names(QueryDict("participantIds=4&participantIds=5&operatorId=2"))
    assert form.getlist("participant_ids") == ["4", "5"] and form["operator_id"] == "2"
    assert canonical_names([1, 2]) == [1, 2]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_nothing_imports_compat():
    """compat depends on the apps whose views it aliases; none of them may depend on it."""
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "compat"]
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package in packages
        for path in package.rglob("*.py")
        for module in _imports(path)
        if module == "compat" or module.startswith("compat.")
    ]
    assert not offenders, offenders
