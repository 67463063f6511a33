"""The dialect tables (chats.dialects): request names and field aliases in, event names out,
and the conditions that choose between names per receiving connection."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chats.dialects import DEFAULT, DIALECTS, canonical_fields, dialect_named


@dataclass
class Viewer:
    is_staff: bool
    joined: set[int] = field(default_factory=set)


STAFF, CUSTOMER = Viewer(is_staff=True), Viewer(is_staff=False)


def names(dialect: str, event: str, hints: dict, viewer: Viewer) -> list[str]:
    return [out.name for out in DIALECTS[dialect].outgoing(event, hints, viewer)]


def test_older_field_names_become_ours_and_ours_win():
    assert canonical_fields(
        {"chatId": 3, "content": "hi", "messageType": "text", "clientId": "c1"}
    ) == {"chat_id": 3, "text": "hi", "kind": "text", "client_id": "c1"}
    assert canonical_fields({"conversationId": 4, "chat_id": 5}) == {"chat_id": 5}
    data = {"chat_id": 1}
    assert canonical_fields(data) is data  # nothing to rename: no copy


def test_request_names_map_to_ours_and_unknown_ones_stay():
    connector = DIALECTS["connector"]
    assert connector.request("send-message", {}) == "message:send"
    assert connector.request("message:send", {}) == "message:send"  # ours still work
    assert connector.request("no-such", {}) == "no-such"  # refused by the handlers
    conversations = DIALECTS["conversations"]
    assert conversations.request("typing", {"is_typing": True}) == "typing:start"
    assert conversations.request("typing", {}) == "typing:start"
    assert conversations.request("typing", {"is_typing": False}) == "typing:stop"


@pytest.mark.parametrize(
    ("viewer", "hints", "expected"),
    [
        (CUSTOMER, {"support": True, "chat_id": 1}, ["new-message"]),
        (STAFF, {"support": True, "chat_id": 1}, ["new-chat-message"]),
        (Viewer(True, {1}), {"support": True, "chat_id": 1}, ["new-message", "new-chat-message"]),
        (STAFF, {"support": False, "chat_id": 2}, ["new-message"]),  # an internal chat
    ],
)
def test_connector_new_message_names_by_who_receives(viewer, hints, expected):
    assert names("connector", "message:new", hints, viewer) == expected


def test_conversations_split_user_status_and_mark_typing():
    assert names("conversations", "user:status", {"is_online": True}, STAFF) == ["user_online"]
    assert names("conversations", "user:status", {"is_online": False}, STAFF) == ["user_offline"]
    stop = DIALECTS["conversations"].outgoing("typing:stop", {}, STAFF)
    assert [(o.name, o.extra) for o in stop] == [("user_typing", {"is_typing": False})]


def test_operator_panel_names_and_events_it_does_not_rename():
    assert names("operator-panel", "chat:updated", {"support": True}, STAFF) == [
        "chat_status_change",
        "chat_update",
    ]
    assert names("operator-panel", "chat:updated", {"support": False}, STAFF) == ["chat_update"]
    assert names("operator-panel", "unread:updated", {}, STAFF) == ["unread:updated"]


def test_dialects_by_name():
    assert dialect_named(None) is DEFAULT
    assert dialect_named("", default="operator-panel") is DIALECTS["operator-panel"]
    assert dialect_named("klingon") is None
    assert DEFAULT.outgoing("message:new", {}, STAFF)[0].name == "message:new"
