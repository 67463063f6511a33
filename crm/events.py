"""Real-time events: what goes on the wire, to which groups, and only after commit.

Services call ``send_event`` inside their transaction; the event is published when (and only
if) the transaction commits. Ephemeral events (typing, viewers) are published at once with
``publish``. Either way an event is published once, as an ``Event``: its payload encoded to JSON
once, the groups it goes to, and a few hints lifted from the payload (``chat_id``,
``is_online``...) that let a transport choose per connection without decoding it.

Every server process hears it once (``crm.hub``): with ``REDIS_URL`` one thread per process
appends it to the event log and publishes it on one pub/sub channel in a single script; on the
embedded default it goes to the process's log and hubs directly. Each process's hub hands it to
its sockets of the event's groups, both transports alike; each socket frames it once per event
and dialect in the process (``ws_text``, ``ws_prepared``, ``chats.socketio.event_packet``) with
the event's ``cursor``.

Events are hints: the database holds the truth, and clients resume from their cursor or catch
up over HTTP. Redis being down or slow never fails or holds the request that committed: the
request only queues its events, and failures are logged once per outage (``crm.outage``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from crm import outage

logger = logging.getLogger(__name__)

# In-process observers of sent events (metrics, tests): called with (type, data, groups).
_observers: list[Callable[[str, dict, tuple[str, ...]], None]] = []

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
    ``staff_only`` (typing a note) narrow who of the groups' connections receive it;
    ``logged`` events are kept for clients that resume (``crm.hub``)."""

    type: str
    payload: str
    groups: tuple[str, ...]
    hints: dict = field(default_factory=dict)
    skip_user: int | None = None
    staff_only: bool = False
    logged: bool = True
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
        logged: bool = True,
    ) -> Event:
        lifted = {k: data[k] for k in HINT_FIELDS if isinstance(data.get(k), int | bool | str)}
        return cls(
            type=event_type,
            payload=encode_payload(data),
            groups=tuple(dict.fromkeys(groups)),
            hints={**lifted, **(hints or {})},
            skip_user=skip_user,
            staff_only=staff_only,
            logged=logged,
        )

    def to_log(self) -> str:
        """The event as the log and the pub/sub channel carry it (the payload stays text)."""
        head = {"i": self.id, "t": self.type, "g": list(self.groups), "h": self.hints}
        if self.skip_user is not None:
            head["u"] = self.skip_user
        if self.staff_only:
            head["s"] = 1
        return json.dumps(head) + "\n" + self.payload

    @classmethod
    def from_log(cls, text: str) -> Event:
        head_text, _, payload = text.partition("\n")
        head = json.loads(head_text)
        return cls(
            type=head["t"],
            payload=payload,
            groups=tuple(head["g"]),
            hints=head.get("h") or {},
            skip_user=head.get("u"),
            staff_only=bool(head.get("s")),
            id=head["i"],
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


def ws_text(
    event_id: str, name: str, payload: str, extra: dict | None = None, cursor: str | None = None
) -> str:
    """The ``/ws/`` frame ``{"type": name, "data": payload, "cursor": cursor}``, built once per
    process."""
    key = (event_id, name, json.dumps(extra) if extra else None)

    def build() -> str:
        frame = '{"type": ' + json.dumps(name) + ', "data": ' + with_extra(payload, extra)
        if cursor is not None:
            frame += ', "cursor": ' + json.dumps(cursor)
        return frame + "}"

    return _ws_frames.get(key, build)


_prepared = FrameCache()


def ws_prepared(
    event_id: str, name: str, payload: str, extra: dict | None = None, cursor: str | None = None
):
    """``ws_text`` as a WebSocket frame framed once for every daphne socket (autobahn's
    ``PreparedMessage``)."""
    from autobahn.websocket.protocol import PreparedMessage

    key = (event_id, name, json.dumps(extra) if extra else None)
    return _prepared.get(
        key,
        lambda: PreparedMessage(
            ws_text(event_id, name, payload, extra, cursor).encode(), False, False, True
        ),
    )


# --- Publishing -------------------------------------------------------------------------------


# After Redis timed out on a publish, events are dropped for this long instead of each waiting
# for a connect timeout: requests stay fast through an outage (events are hints; clients resume).
PUBLISH_PAUSE_SECONDS = 2.0
# Events waiting for the publisher thread; past this many they are dropped (logged).
PUBLISH_QUEUE_SIZE = 10000


class EventPublisher:
    """Appends events to the log and publishes them (``crm.hub.RedisLog``): a logged event in
    the thread that committed it, one round trip to Redis (so that a process that ends right
    after its commit, a command or a worker, has logged what it committed); ephemeral events
    (typing) from one thread per process, in pipelines of whatever is waiting.

    When a publish fails, the events are lost to live sockets and to the log: once Redis
    answers again the log starts a new epoch, so that cursors from before are answered
    ``resumed: false`` (clients refetch) instead of a silent gap. After a timeout, events are
    dropped for ``PUBLISH_PAUSE_SECONDS`` rather than each waiting for Redis."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[str, Event]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.paused_until = 0.0
        self.failures = 0  # publishes that failed (their events are missing from the log)
        self.epoch_for = 0  # failures the log's epoch already accounts for

    @property
    def lost(self) -> bool:
        return self.failures > self.epoch_for

    def _failed(self) -> None:
        with self.lock:
            self.failures += 1

    def now(self, event: Event) -> None:
        """Log and publish ``event`` before returning (bounded by ``REDIS_SOCKET_TIMEOUT``)."""
        if time.monotonic() < self.paused_until:
            self._failed()
            return
        self._send([(settings.REDIS_URL, event)])

    def put(self, event: Event) -> None:
        if self.queue.qsize() >= PUBLISH_QUEUE_SIZE:
            self._failed()
            outage.report("event_publish", RuntimeError("publish queue full"))
            return
        self.queue.put((settings.REDIS_URL, event))
        if self.thread is None or not self.thread.is_alive():
            with self.lock:
                if self.thread is None or not self.thread.is_alive():
                    self.thread = threading.Thread(
                        target=self._run, name="event-publisher", daemon=True
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

    def _send(self, batch: list[tuple[str, Event]]) -> None:
        try:
            try:
                self._pipeline(batch)
            except outage.REDIS_ERRORS as exc:  # a pooled connection Redis closed: once more
                if _slow(exc):
                    raise
                self._pipeline(batch)
        except Exception as exc:
            if any(event.logged for _, event in batch):
                self._failed()
            if _slow(exc):  # Redis unreachable, not refusing: don't wait for it per request
                self.paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS
            if outage.part_down(exc) is None:
                logger.exception("Could not publish %d event(s)", len(batch))
            else:
                outage.report("event_publish", exc)
        else:
            outage.recovered("event_publish")

    def _pipeline(self, batch: list[tuple[str, Event]]) -> None:
        from crm import hub
        from crm.redis import client

        log = hub.redis_log()
        by_url: dict[str, list[Event]] = {}
        for url, event in batch:
            by_url.setdefault(url, []).append(event)
        for url, found in by_url.items():
            redis = client(url)
            failures = self.failures
            try:
                self._execute(redis, log, found, failures > self.epoch_for, log.append_sha(redis))
            except Exception as exc:
                if type(exc).__name__ != "NoScriptError":  # Redis restarted empty: load again
                    raise
                sha = log.append_sha(redis, load=True)
                self._execute(redis, log, found, True, sha)
            with self.lock:
                self.epoch_for = max(self.epoch_for, failures)

    @staticmethod
    def _execute(redis, log, found: list[Event], new_epoch: bool, sha: str) -> None:
        from crm import hub

        pipe = redis.pipeline(transaction=False)
        if new_epoch:  # some events never made it: no resuming past them
            pipe.set(log.epoch_key, uuid.uuid4().hex[:12])
        for event in found:
            groups = hub.logged_groups(event.groups) if event.logged else []
            if groups:
                keys, args = log.append_args(groups, event.to_log())
                pipe.evalsha(sha, len(keys), *keys, *args)
            else:
                pipe.publish(log.channel, "- " + event.to_log())
        pipe.execute()


def _slow(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


publisher = EventPublisher()


def _publish(event: Event) -> None:
    """Hand the event to every process: through Redis, or this process's hubs."""
    from crm import hub

    if settings.REDIS_URL:
        if event.logged:
            publisher.now(event)
        else:
            publisher.put(event)
    elif event.logged and hub.logged_groups(event.groups):
        hub.memory_log().append(event, hub.deliver_everywhere)
    else:
        hub.deliver_everywhere(hub.Entry(event))


def _deliver(event: Event, data: dict) -> None:
    for observer in list(_observers):
        observer(event.type, data, event.groups)
    _publish(event)


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
    """Publish an ephemeral event (typing, viewers) now, outside any transaction. It is not
    logged: a client that resumes does not get it again."""
    event = Event.build(
        event_type, data, groups=groups, skip_user=skip_user, staff_only=staff_only, logged=False
    )
    _publish(event)


# --- Control messages -------------------------------------------------------------------------

CLOSE = "crm.close"


def user_sessions_ended(*, user_id: int) -> None:
    """Ask every connection of a deactivated user to close (after commit)."""
    event = Event.build(CLOSE, {"code": 4401}, groups=(user_group(user_id),), logged=False)
    transaction.on_commit(lambda: _publish(event))


def observe(callback: Callable[[str, dict, tuple[str, ...]], None]) -> Callable[[], None]:
    """Register an observer of delivered events; returns a function that unregisters it."""
    _observers.append(callback)
    return lambda: _observers.remove(callback)
