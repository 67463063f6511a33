"""Real-time events: what goes on the wire, to which groups, and only after commit.

Services call ``send_event`` inside their transaction; the event is published when (and only
if) the transaction commits. Ephemeral events (typing, viewers) are published at once with
``publish``. Either way an event is published once, as an ``Event``: its payload encoded to JSON
once, the groups it goes to, and a few hints lifted from the payload (``chat_id``,
``is_online``...) that let a transport choose per connection without decoding it.

Each transport frames it for its own connections:

- the Channels consumer (``/ws/``): the event travels over the channel layer to the groups
  named by the functions below (``crm.event`` messages); each process frames it once per event
  and dialect (``ws_text``) and every socket forwards the same text;
- Socket.IO (``chats.socketio``): the event travels over the Socket.IO manager's Redis channel
  to every process (``SOCKETIO_CHANNEL``), or straight to the in-process server on the embedded
  default; each process sends it to the local members of the rooms named like the groups, one
  encoded packet per event and dialect.

Events are hints: the database holds the truth and clients catch up over HTTP. A channel layer
or Redis that is down or slow never fails or holds the request that committed: sends are
bounded by ``EVENT_SEND_TIMEOUT_SECONDS`` and failures are logged once per outage
(``crm.outage``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from crm import outage

logger = logging.getLogger(__name__)

# In-process observers of sent events (metrics, tests): called with (type, data, groups).
_observers: list[Callable[[str, dict, tuple[str, ...]], None]] = []

# All of one event's sends together wait at most this long for the layer.
EVENT_SEND_TIMEOUT_SECONDS = 5.0

# Payload fields copied into ``Event.hints``: scalars the dialects decide by (chats.dialects).
HINT_FIELDS = ("chat_id", "user_id", "is_online", "status")


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


def encode_payload(data: Any) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder)


@dataclass(frozen=True)
class Event:
    """One published event. ``payload`` is the data's JSON; ``skip_user`` (the typist) and
    ``staff_only`` (typing a note) narrow who of the groups' connections receive it."""

    type: str
    payload: str
    groups: tuple[str, ...]
    hints: dict = field(default_factory=dict)
    skip_user: int | None = None
    staff_only: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def build(
        cls,
        event_type: str,
        data: dict,
        *,
        groups: Iterable[str],
        hints: dict | None = None,
        skip_user: int | None = None,
        staff_only: bool = False,
    ) -> Event:
        lifted = {k: data[k] for k in HINT_FIELDS if isinstance(data.get(k), int | bool | str)}
        return cls(
            type=event_type,
            payload=encode_payload(data),
            groups=tuple(dict.fromkeys(groups)),
            hints={**lifted, **(hints or {})},
            skip_user=skip_user,
            staff_only=staff_only,
        )

    def as_message(self) -> dict:
        """The event as the channel layer carries it (msgpack-able: strings, ints, bools)."""
        message = {
            "type": "crm.event",
            "id": self.id,
            "event": self.type,
            "payload": self.payload,
            "hints": self.hints,
        }
        if self.skip_user is not None:
            message["skip_user"] = self.skip_user
        if self.staff_only:
            message["staff_only"] = True
        return message

    @classmethod
    def from_message(cls, message: dict, groups: Iterable[str] = ()) -> Event:
        return cls(
            type=message["event"],
            payload=message["payload"],
            groups=tuple(groups),
            hints=message.get("hints") or {},
            skip_user=message.get("skip_user"),
            staff_only=bool(message.get("staff_only")),
            id=message["id"],
        )


# --- Framing, once per event and name in a process --------------------------------------------


class FrameCache:
    """The last few events' frames by (event id, name, extra): every socket of a process that
    gets the same event in the same dialect sends the same string."""

    def __init__(self, size: int = 512):
        self.size = size
        self.frames: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        found = self.frames.get(key)
        if found is None:
            found = self.frames[key] = build()
            if len(self.frames) > self.size:
                self.frames.popitem(last=False)
        return found


def with_extra(payload: str, extra: dict | None) -> str:
    """``payload`` (a JSON object) with ``extra``'s fields added, without decoding it."""
    if not extra:
        return payload
    added = json.dumps(extra)[1:-1]
    if payload == "{}":
        return "{" + added + "}"
    return payload[:-1] + ", " + added + "}"


_ws_frames = FrameCache()


def ws_text(event_id: str, name: str, payload: str, extra: dict | None = None) -> str:
    """The ``/ws/`` frame ``{"type": name, "data": payload}``, built once per process."""
    key = (event_id, name, json.dumps(extra) if extra else None)
    return _ws_frames.get(
        key,
        lambda: '{"type": ' + json.dumps(name) + ', "data": ' + with_extra(payload, extra) + "}",
    )


# --- Transports -------------------------------------------------------------------------------

# Socket.IO servers running in this process (chats.socketio registers its own): called with
# each event when there is no Redis to carry it (the embedded default is one process).
_local_transports: list[Callable[[Event], Awaitable[None]]] = []


def local_transport_add(deliver: Callable[[Event], Awaitable[None]]) -> None:
    if deliver not in _local_transports:
        _local_transports.append(deliver)


def socketio_channel() -> str:
    """The Redis pub/sub channel of the Socket.IO manager: every process of this deployment
    (``REDIS_KEY_PREFIX``) subscribes to it."""
    return f"{settings.REDIS_KEY_PREFIX}:socketio"


def socketio_message(event: Event) -> str:
    """The event as the Socket.IO manager's channel carries it (see chats.socketio)."""
    return json.dumps(
        {
            "method": "emit",
            "host_id": "crm.events",
            "crm_event": {**event.as_message(), "groups": list(event.groups)},
        }
    )


_redis_clients: dict[str, Any] = {}


def _redis_publisher(url: str):
    import redis

    client = _redis_clients.get(url)
    if client is None:
        timeout = settings.REDIS_SOCKET_TIMEOUT
        client = _redis_clients[url] = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    return client


# After Redis failed a publish, events skip Socket.IO for this long instead of each waiting
# for a connect timeout: requests stay fast through an outage (events are hints).
SOCKETIO_PAUSE_SECONDS = 2.0
# Events waiting for the publisher thread; past this many they are dropped (logged).
SOCKETIO_QUEUE_SIZE = 10000


class SocketIOPublisher:
    """Publishes events to the Socket.IO channel from one thread per process, in pipelines of
    whatever is waiting: the request that committed only queues its events (one of a send's
    many events per staff member costs it no round trip to Redis), and order is kept."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[str, str, str]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.paused_until = 0.0

    def put(self, event: Event) -> None:
        if self.queue.qsize() >= SOCKETIO_QUEUE_SIZE:
            outage.report("socketio_publish", RuntimeError("publish queue full"))
            return
        self.queue.put((settings.REDIS_URL, socketio_channel(), socketio_message(event)))
        if self.thread is None or not self.thread.is_alive():
            with self.lock:
                if self.thread is None or not self.thread.is_alive():
                    self.thread = threading.Thread(
                        target=self._run, name="socketio-publisher", daemon=True
                    )
                    self.thread.start()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until what was queued so far is sent (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if time.monotonic() < self.paused_until:
                continue  # Redis failed a moment ago: these are dropped, as hints
            self._send(batch)

    def _send(self, batch: list[tuple[str, str, str]]) -> None:
        try:
            try:
                self._pipeline(batch)
            except outage.REDIS_ERRORS:  # a pooled connection Redis closed: once more
                self._pipeline(batch)
        except Exception as exc:
            self.paused_until = time.monotonic() + SOCKETIO_PAUSE_SECONDS
            if outage.part_down(exc) is None:
                logger.exception("Could not publish %d event(s) to Socket.IO", len(batch))
            else:
                outage.report("socketio_publish", exc)
        else:
            outage.recovered("socketio_publish")

    @staticmethod
    def _pipeline(batch: list[tuple[str, str, str]]) -> None:
        by_url: dict[str, list[tuple[str, str]]] = {}
        for url, channel, message in batch:
            by_url.setdefault(url, []).append((channel, message))
        for url, messages in by_url.items():
            pipe = _redis_publisher(url).pipeline(transaction=False)
            for channel, message in messages:
                pipe.publish(channel, message)
            pipe.execute()


socketio_publisher = SocketIOPublisher()


def _socketio_publish(event: Event) -> None:
    """Hand the event to every process's Socket.IO server (queued: never blocks or raises)."""
    if settings.REDIS_URL:
        socketio_publisher.put(event)


async def _fan_out(event: Event, message: dict) -> None:
    """Channel layer groups, and the in-process Socket.IO server when there is no Redis."""
    layer = get_channel_layer()
    try:
        if layer is not None:
            await _group_send_all(layer, event.groups, message)
    except Exception as exc:  # the layer being down must not fail the request that committed
        if outage.part_down(exc) is None and not isinstance(exc, asyncio.TimeoutError):
            logger.exception("Could not send %s to %s", message.get("event"), event.groups)
        else:
            outage.report("channel_layer", exc)
    else:
        outage.recovered("channel_layer")
    if not settings.REDIS_URL:
        for deliver in list(_local_transports):
            try:
                await deliver(event)
            except Exception:
                logger.exception("Could not deliver %s over Socket.IO", event.type)


async def _group_send_all(layer, groups: tuple[str, ...], message: dict) -> None:
    async def send_all() -> None:
        for group in groups:
            try:
                await layer.group_send(group, message)
            except outage.REDIS_ERRORS:  # a pooled connection Redis closed: once more
                await layer.group_send(group, message)

    await asyncio.wait_for(send_all(), timeout=EVENT_SEND_TIMEOUT_SECONDS)


def _deliver(event: Event, data: dict) -> None:
    for observer in list(_observers):
        observer(event.type, data, event.groups)
    # One hop to the event loop per event, not per group: each hop blocks the request's thread.
    async_to_sync(_fan_out)(event, event.as_message())
    _socketio_publish(event)


def send_event(
    event_type: str, data: dict, *, groups: Iterable[str], hints: dict | None = None
) -> None:
    """Send ``event_type`` with ``data`` to ``groups`` once the current transaction commits.
    ``hints``: more scalars the dialects decide by (e.g. ``support`` for a support chat)."""
    groups = tuple(dict.fromkeys(groups))
    if not groups:
        return
    event = Event.build(event_type, data, groups=groups, hints=hints)
    transaction.on_commit(lambda: _deliver(event, data))


async def publish(
    event_type: str,
    data: dict,
    *,
    groups: Iterable[str],
    skip_user: int | None = None,
    staff_only: bool = False,
) -> None:
    """Publish an ephemeral event (typing, viewers) now, from async code, outside any
    transaction. Failures of the channel layer propagate (the caller reports them)."""
    event = Event.build(event_type, data, groups=groups, skip_user=skip_user, staff_only=staff_only)
    layer = get_channel_layer()
    if layer is not None:
        await asyncio.wait_for(
            _group_send_all(layer, event.groups, event.as_message()), EVENT_SEND_TIMEOUT_SECONDS
        )
    if settings.REDIS_URL:
        _socketio_publish(event)
    else:
        for deliver in list(_local_transports):
            await deliver(event)


# --- Control messages -------------------------------------------------------------------------

CLOSE = "crm.close"


def user_sessions_ended(*, user_id: int) -> None:
    """Ask every connection of a deactivated user to close (after commit)."""

    def close() -> None:
        event = Event.build(CLOSE, {"code": 4401}, groups=(user_group(user_id),))
        layer = get_channel_layer()
        if layer is not None:
            try:
                async_to_sync(_group_send_all)(
                    layer, event.groups, {"type": "crm.close", "code": 4401}
                )
            except Exception as exc:
                if outage.part_down(exc) is None and not isinstance(exc, asyncio.TimeoutError):
                    logger.exception("Could not close the sessions of user %s", user_id)
                else:
                    outage.report("channel_layer", exc)
        if settings.REDIS_URL:
            _socketio_publish(event)
        else:
            for deliver in list(_local_transports):
                async_to_sync(deliver)(event)

    transaction.on_commit(close)


def observe(callback: Callable[[str, dict, tuple[str, ...]], None]) -> Callable[[], None]:
    """Register an observer of delivered events; returns a function that unregisters it."""
    _observers.append(callback)
    return lambda: _observers.remove(callback)
