"""Real-time events: what goes on the wire, to which groups, and only after commit.

Services call ``send_event`` inside their transaction; the event leaves when (and only if) the
transaction commits. The WebSocket consumer joins its connection to the groups named by the
functions below and forwards every ``crm.event`` it receives as
``{"type": <event>, "data": <payload>}``. The JSON text is encoded once per event here, not once
per socket.

Events are hints: the database holds the truth and clients catch up over HTTP. A channel layer
that is down or slow never fails or holds the request that committed: sends are bounded by
``EVENT_SEND_TIMEOUT_SECONDS`` and failures are logged once per outage (``crm.outage``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from crm import outage

logger = logging.getLogger(__name__)

# In-process observers of sent events (metrics, tests): called with (type, data, groups).
_observers: list[Callable[[str, dict, tuple[str, ...]], None]] = []

# All of one event's group sends together wait at most this long for the layer.
EVENT_SEND_TIMEOUT_SECONDS = 5.0


def chat_group(chat_id: int) -> str:
    """Connections that joined a chat: typing, read receipts, presence."""
    return f"chat.{chat_id}"


def user_group(user_id: int) -> str:
    """Every connection of one user."""
    return f"user.{user_id}"


def staff_group(organization_id: int) -> str:
    """Every connection of the organization's staff."""
    return f"staff.{organization_id}"


def encode(event_type: str, data: Any) -> str:
    return json.dumps({"type": event_type, "data": data}, cls=DjangoJSONEncoder)


def send_event(event_type: str, data: dict, *, groups: Iterable[str]) -> None:
    """Send ``event_type`` with ``data`` to ``groups`` once the current transaction commits."""
    groups = tuple(dict.fromkeys(groups))
    if not groups:
        return
    text = encode(event_type, data)
    transaction.on_commit(lambda: _deliver(event_type, data, groups, text))


def _deliver(event_type: str, data: dict, groups: tuple[str, ...], text: str) -> None:
    for observer in list(_observers):
        observer(event_type, data, groups)
    message = {"type": "crm.event", "event": event_type, "text": text}
    # One hop to the event loop per event, not per group: each hop blocks the request's thread.
    _layer_send(groups, message)


def _layer_send(groups: tuple[str, ...], message: dict) -> None:
    """Send ``message`` to ``groups``; never raises, waits at most the send timeout."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_group_send_all)(layer, groups, message)
    except Exception as exc:  # the layer being down must not fail the request that committed
        if outage.part_down(exc) is None and not isinstance(exc, asyncio.TimeoutError):
            logger.exception("Could not send %s to %s", message.get("event"), groups)
        else:
            outage.report("channel_layer", exc)
    else:
        outage.recovered("channel_layer")


async def _group_send_all(layer, groups: tuple[str, ...], message: dict) -> None:
    async def send_all() -> None:
        for group in groups:
            try:
                await layer.group_send(group, message)
            except outage.REDIS_ERRORS:  # a pooled connection Redis closed: once more
                await layer.group_send(group, message)

    await asyncio.wait_for(send_all(), timeout=EVENT_SEND_TIMEOUT_SECONDS)


def user_sessions_ended(*, user_id: int) -> None:
    """Ask every connection of a deactivated user to close (after commit)."""
    transaction.on_commit(
        lambda: _layer_send((user_group(user_id),), {"type": "crm.close", "code": 4401})
    )


def observe(callback: Callable[[str, dict, tuple[str, ...]], None]) -> Callable[[], None]:
    """Register an observer of delivered events; returns a function that unregisters it."""
    _observers.append(callback)
    return lambda: _observers.remove(callback)
