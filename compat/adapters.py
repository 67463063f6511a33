"""The one input adapter of the seeds' REST paths, and the schema helper that marks an alias.

The older clients send camelCase names (``chatId``, ``content``, ``messageType``...) where our
API has snake_case ones. ``SeedInput`` renames them before the canonical view reads the body,
so every alias validates with the canonical serializer and calls the canonical service: the
same rules, limits and errors, whichever path a client calls.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.request import Request

from compat import error_codes
from crm.errors import ValidationFailed
from crm.query import ID_MAX, id_field

# A seed's field name → ours. Where both are sent, ours wins.
SEED_FIELD_NAMES: dict[str, str] = {
    "chatId": "chat_id",
    "conversationId": "chat_id",
    "content": "text",
    "caption": "text",
    "messageType": "kind",
    "type": "kind",
    "clientId": "client_id",
    "attachmentIds": "attachment_ids",
    "participantIds": "participant_ids",
    "operatorId": "operator_id",
    "messageIds": "message_ids",
    "upTo": "up_to",
    "media": "file",
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Values the seeds spell differently, by (our) field name.
SEED_VALUES: dict[str, dict[str, str]] = {"kind": {"private": "direct"}}


def _value(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return SEED_VALUES.get(name, {}).get(value, value)
    return value


def canonical_names(data: Any) -> Any:
    """``data`` (a parsed JSON object or a form) with the seeds' names renamed to ours. Anything
    else (a JSON list, a string) is returned as it is, for the canonical serializer to refuse."""
    if isinstance(data, MultiValueDict):  # forms and multipart bodies: keep every value
        renamed = MultiValueDict()
        for key in data:
            target = SEED_FIELD_NAMES.get(key, key)
            if target != key and target in data:
                continue
            if target not in renamed:
                renamed.setlist(target, [_value(target, v) for v in data.getlist(key)])
        return renamed
    if isinstance(data, Mapping):
        result: dict[str, Any] = {}
        for key, value in data.items():
            target = SEED_FIELD_NAMES.get(key, key)
            if target != key and target in data:
                continue
            result.setdefault(target, _value(target, value))
        return result
    return data


class ChatRef(serializers.Serializer):
    chat_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)


class SeedInput:
    """Mixin for an alias view, placed before the canonical view class.

    - the body's seed names become ours (``canonical_names``) before the handler reads it;
    - ``forced_query``: query parameters the alias fixes (``/api/chat/direct`` is the chat list
      with ``kind=direct``), replacing any the client sent;
    - ``forced_body``: body fields the alias fixes;
    - ``ignore_body``: the alias takes no body at all (``mark-chat-read`` reads everything).
    """

    forced_query: ClassVar[dict[str, str]] = {}
    forced_body: ClassVar[dict[str, Any]] = {}
    ignore_body: ClassVar[bool] = False

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if self.forced_query:
            query = request._request.GET.copy()
            for key, value in self.forced_query.items():
                query[key] = value
            request._request.GET = query
        if self.ignore_body:
            request._full_data = {}
            return
        if request.method not in BODY_METHODS:
            return
        data = canonical_names(request.data)
        if self.forced_body and isinstance(data, MultiValueDict):
            for key, value in self.forced_body.items():
                data[key] = value
        elif self.forced_body and isinstance(data, dict):
            data.update(self.forced_body)
        request._full_data = data

    def chat_id_of_body(self, request: Request) -> int:
        """The chat the body names (``chat_id``, ``chatId`` or ``conversationId``)."""
        data = request.data
        ref = ChatRef(data=data if isinstance(data, Mapping | MultiValueDict) else {})
        if not ref.is_valid():
            raise ValidationFailed(
                _("Name the chat: chat_id (chatId, conversationId)."),
                code=error_codes.CHAT_ID_REQUIRED,
                fields={"chat_id": [str(m) for m in ref.errors.get("chat_id", [])]},
            )
        return ref.validated_data["chat_id"]


# --- Schema ---------------------------------------------------------------------------------


def _copy(field: serializers.Field) -> serializers.Field:
    # A fresh, unbound field (a ListField's child is bound to its parent: copied too).
    return field.__class__(*copy.deepcopy(field._args), **copy.deepcopy(field._kwargs))


def seed_request(
    name: str,
    canonical: type[serializers.Serializer],
    *,
    omit: tuple[str, ...] = (),
    **seed_names: str,
):
    """The request schema of an alias: the canonical serializer's fields under the names the
    seed sends (``seed_request("X", Input, chat_id="conversationId")``), without the ones the
    alias fixes itself (``omit``). Our own names are accepted as well (``canonical_names``);
    the schema shows the seed's, which is what its clients send."""
    for ours, seed in seed_names.items():
        assert SEED_FIELD_NAMES.get(seed, seed) == ours, f"{seed} is not renamed to {ours}"
    fields = {
        seed_names.get(field_name, field_name): _copy(field)
        for field_name, field in canonical._declared_fields.items()
        if not field.read_only and field_name not in omit
    }
    return type(name, (serializers.Serializer,), fields)


def with_chat_id(name: str, canonical: type[serializers.Serializer]):
    """``canonical`` with a required ``chat_id`` (for aliases that name the chat in the body)."""
    return type(name, (canonical,), {"chat_id": id_field()})


def alias_of(
    canonical: Callable,
    label: str,
    *,
    operation_id: str,
    request: Any = empty,
    responses: Any = empty,
    hidden_parameters: tuple[str, ...] = (),
    note: str = "",
) -> Callable:
    """Mark a view method as a deprecated alias of ``canonical`` (a view method, whose schema it
    starts from: parameters, responses) named ``label`` ("POST /api/chats/{chat_id}/read")."""
    base = getattr(canonical, "kwargs", {}).get("schema")

    def decorator(method: Callable) -> Callable:
        if base is not None:
            method.kwargs = {"schema": base}  # type: ignore[attr-defined]
        description = (
            f"Alias of `{label}` for the clients of the backends Connector CRM replaces: "
            f"the same permissions, validation, limits, events and response. The body may use "
            f"the seed's camelCase names (shown) or ours. Use `{label}` in new code."
        )
        if note:
            description = f"{description}\n\n{note}"
        return extend_schema(
            operation_id=operation_id,
            deprecated=True,
            description=description,
            request=request,
            responses=responses,
            parameters=[OpenApiParameter(p, exclude=True) for p in hidden_parameters] or None,
            tags=["seed aliases"],
        )(method)

    return decorator
