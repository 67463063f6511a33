"""Live events from commit to socket: a log to resume from, one subscription per process, one
write per socket.

``crm.events`` publishes each event once. With ``REDIS_URL`` the publisher appends it to the
event log and publishes it on one pub/sub channel (``<REDIS_KEY_PREFIX>:events``) in a single
script, so its place in the log (its *position*) travels with it; on the embedded default the
log is in the process and events go straight to the hub. Every server process (every event
loop) has one ``Hub``: it holds the process's sockets by group, subscribes once, and hands each
event to the sockets of its groups, each of which frames it (once per event and dialect in the
process, see ``crm.events.FrameCache``) and writes it to its own bounded buffer. There is no
queue or task per socket per event.

**Cursors.** A position is ``(milliseconds, sequence)``: the sequence grows by one per logged
event across the deployment, so positions order every event of a user, whichever groups they
went to. A cursor is the log's *epoch* and a position, ``"<epoch>.<ms>-<seq>"``: opaque to
clients. The epoch changes when the log may have lost events (Redis restarted empty, or a
publish failed), so older cursors are answered ``resumed: false``.

**The log** keeps, per group of a user (``user.<id>``, ``staff.<org>``), at least
``EVENT_LOG_RETENTION_SECONDS`` and at least ``EVENT_LOG_MIN_EVENTS`` events (and at most
``EVENT_LOG_MAX_EVENTS``). Events only for the sockets that joined a chat (typing) and other
ephemeral ones are not logged and carry no cursor.

**Resuming** (``Hub.subscribe``): the socket joins its groups with its live events held back,
the log is read from the cursor, the missed events go out in order, then the held-back live
ones that came after them. Nothing is lost in between and nothing is sent twice.

**Slow sockets.** A socket whose unsent frames pass ``WS_SEND_BUFFER_BYTES`` is closed (1013,
"try again later") and resumes with its cursor; the others never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from crm import outage

logger = logging.getLogger(__name__)

# Groups whose events are logged: a user's own and their organization's staff group. A chat's
# group carries only what the sockets that joined it see live (typing).
LOGGED_GROUP = re.compile(r"^(user|staff)\.\d+$")
CURSOR = re.compile(r"^([0-9a-f]{1,32})\.(\d{1,16})-(\d{1,20})$")
# Listening again after Redis failed: at most this long between tries.
MAX_RETRY_SECONDS = 5.0


@dataclass(frozen=True, order=True)
class Position:
    ms: int
    seq: int

    @property
    def id(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Position:
        ms, _, seq = text.partition("-")
        return cls(int(ms), int(seq))


def cursor_of(epoch: str, position: Position) -> str:
    return f"{epoch}.{position.id}"


def cursor_parse(cursor: Any) -> tuple[str, Position] | None:
    """(epoch, position) of a cursor a client sent, or None when it is not one of ours."""
    if not isinstance(cursor, str) or len(cursor) > 80:
        return None
    match = CURSOR.match(cursor)
    if match is None:
        return None
    return match[1], Position(int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Entry:
    """An event as it reaches a process: with its cursor when it was logged."""

    event: Any  # crm.events.Event
    position: Position | None = None
    cursor: str | None = None


def logged_groups(groups: Iterable[str]) -> list[str]:
    return [g for g in groups if LOGGED_GROUP.match(g)]


def _retention_ms() -> int:
    return int(settings.EVENT_LOG_RETENTION_SECONDS * 1000)


# --- The log ----------------------------------------------------------------------------------


@dataclass
class Since:
    """What a resume read found: the missed entries in order, or ``stale`` (refetch)."""

    entries: list[Entry]
    stale: bool = False


class MemoryLog:
    """The embedded default's log: one process, kept in memory."""

    def __init__(self) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self.lock = threading.Lock()
        self.last = Position(0, 0)
        self.streams: dict[str, deque[Entry]] = {}
        self.max_deleted: dict[str, Position] = {}

    def append(self, event, deliver: Callable[[Entry], None]) -> Entry:
        """Log ``event`` and call ``deliver`` with it under the lock (so that every hub sees
        events in the order of their positions)."""
        with self.lock:
            ms = max(int(time.time() * 1000), self.last.ms)
            position = self.last = Position(ms, self.last.seq + 1)
            entry = Entry(event, position, cursor_of(self.epoch, position))
            for group in logged_groups(event.groups):
                stream = self.streams.setdefault(group, deque())
                stream.append(entry)
                self._trim(group, stream, ms)
            deliver(entry)
        return entry

    def _trim(self, group: str, stream: deque[Entry], now_ms: int) -> None:
        keep, cap = settings.EVENT_LOG_MIN_EVENTS, settings.EVENT_LOG_MAX_EVENTS
        cutoff = now_ms - _retention_ms()
        while len(stream) > cap or (len(stream) > keep and stream[0].position.ms < cutoff):
            self.max_deleted[group] = stream.popleft().position

    def head(self) -> str:
        with self.lock:
            ms = max(int(time.time() * 1000), self.last.ms)
            self.last = Position(ms, self.last.seq)
            return cursor_of(self.epoch, self.last)

    def since(self, groups: Iterable[str], cursor: str) -> Since:
        parsed = cursor_parse(cursor)
        if parsed is None or parsed[0] != self.epoch or parsed[1] > self.last:
            return Since([], stale=True)
        after = parsed[1]
        found: dict[Position, Entry] = {}
        with self.lock:
            for group in logged_groups(groups):
                deleted = self.max_deleted.get(group)
                if deleted is not None and deleted > after:
                    return Since([], stale=True)
                for entry in reversed(self.streams.get(group, ())):
                    if entry.position <= after:
                        break
                    found[entry.position] = entry
        if len(found) > settings.EVENT_RESUME_MAX_EVENTS:
            return Since([], stale=True)
        return Since([found[p] for p in sorted(found)])


class RedisLog:
    """The log in Redis: a stream per group, entries ``<ms>-<seq>``; the append script also
    publishes the event, so its position travels with it."""

    # The log's epoch and the position now, at Redis' time and never before the last one; the
    # epoch is started when Redis has none (it restarted empty). KEYS[1]: the state hash,
    # KEYS[2]: the epoch; ARGV[{new_epoch}]: a new epoch.
    _NOW = """
    local epoch = redis.call('GET', KEYS[2])
    if not epoch then
        epoch = ARGV[{new_epoch}]
        redis.call('SET', KEYS[2], epoch)
    end
    local t = redis.call('TIME')
    local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local last = tonumber(redis.call('HGET', KEYS[1], 'ms') or '0')
    if ms < last then ms = last end
    redis.call('HSET', KEYS[1], 'ms', ms)
    """

    # KEYS: the state hash, the epoch, the trimmed-up-to hash, then one stream per group.
    # ARGV: channel ('' for none), message, retention ms, keep, cap, ttl s, a new epoch.
    APPEND = (
        _NOW.format(new_epoch=7)
        + """
    local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
    local id = ms .. '-' .. seq
    local keep, cap, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
    -- Drop the entries before `first`, recording the last one dropped: a cursor before it
    -- may have missed what was dropped.
    local function trim_before(key, first)
        local dropped = redis.call('XREVRANGE', key, '(' .. first, '-', 'COUNT', 1)
        if #dropped > 0 then
            redis.call('XTRIM', key, 'MINID', first)
            redis.call('HSET', KEYS[3], key, dropped[1][1])
        end
    end
    for i = 4, #KEYS do
        local key = KEYS[i]
        redis.call('XADD', key, id, 'm', ARGV[2])
        local length = redis.call('XLEN', key)
        if length > cap + 100 then
            local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', length - cap + 1)
            trim_before(key, oldest[#oldest][1])
        elseif seq % 50 == 0 and length > keep then
            -- What is older than the retention goes while at least `keep` remain.
            local cutoff = (ms - tonumber(ARGV[3])) .. '-0'
            local newer = redis.call('XRANGE', key, cutoff, '+', 'COUNT', keep)
            if #newer >= keep then
                trim_before(key, cutoff)
            end
        end
        redis.call('EXPIRE', key, ttl)
    end
    redis.call('EXPIRE', KEYS[3], ttl)
    if ARGV[1] ~= '' then
        redis.call('PUBLISH', ARGV[1], epoch .. ' ' .. id .. ' ' .. ARGV[2])
    end
    return epoch .. '.' .. id
    """
    )

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.state_key = f"{prefix}:events:state"
        self.epoch_key = f"{prefix}:events:epoch"
        self.trimmed_key = f"{prefix}:events:trimmed"
        self._scripts: dict[Any, Any] = {}
        self.channel = f"{prefix}:events"

    def stream_key(self, group: str) -> str:
        return f"{self.prefix}:events:log:{group}"

    def ttl_seconds(self) -> int:
        # A stream with no event for this long is gone; a cursor older than it is stale.
        return max(int(settings.EVENT_LOG_RETENTION_SECONDS) * 6, 3600)

    def append_sha(self, client, *, load: bool = False) -> str:
        """The append script's SHA, loaded into ``client``'s Redis once."""
        sha = self._scripts.get(("append", id(client)))
        if sha is None or load:
            sha = self._scripts[("append", id(client))] = client.script_load(self.APPEND)
        return sha

    def append_args(self, groups: Iterable[str], message: str, *, publish: bool = True):
        keys = [self.state_key, self.epoch_key, self.trimmed_key]
        keys += [self.stream_key(g) for g in groups]
        args = [
            self.channel if publish else "",
            message,
            _retention_ms(),
            settings.EVENT_LOG_MIN_EVENTS,
            settings.EVENT_LOG_MAX_EVENTS,
            self.ttl_seconds(),
            uuid.uuid4().hex[:12],
        ]
        return keys, args

    # The position now: after every logged event, at Redis' time (a cursor's age is how long
    # its client has not heard from us). KEYS: the state hash, the epoch; ARGV: a new epoch.
    HEAD = (
        _NOW.format(new_epoch=1)
        + """
    local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
    return epoch .. '.' .. ms .. '-' .. seq
    """
    )

    async def head(self, client) -> str:
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(self.HEAD)
        cursor = await script(keys=[self.state_key, self.epoch_key], args=[uuid.uuid4().hex[:12]])
        return _text(cursor)

    async def since(self, client, groups: Iterable[str], cursor: str, decode) -> Since:
        parsed = cursor_parse(cursor)
        if parsed is None:
            return Since([], stale=True)
        epoch, after = parsed
        if time.time() * 1000 - after.ms > self.ttl_seconds() * 1000:
            return Since([], stale=True)  # its streams may have expired since
        keys = [self.stream_key(g) for g in logged_groups(groups)]
        limit = settings.EVENT_RESUME_MAX_EVENTS
        pipe = client.pipeline(transaction=False)
        pipe.get(self.epoch_key)
        pipe.hget(self.state_key, "seq")
        if keys:
            pipe.hmget(self.trimmed_key, keys)
        for key in keys:
            pipe.xrange(key, f"({after.id}", "+", count=limit + 1)
        replies = await pipe.execute()
        current, seq = replies[0], int(replies[1] or 0)
        if current is None or current.decode() != epoch or after.seq > seq:
            return Since([], stale=True)  # another epoch, or not a position of this log
        trimmed = replies[2] if keys else []
        found: dict[Position, Entry] = {}
        for i, rows in enumerate(replies[3:]):
            if trimmed[i] is not None and Position.parse(_text(trimmed[i])) > after:
                return Since([], stale=True)  # some of what it missed is gone
            if len(rows) > limit:
                return Since([], stale=True)
            for entry_id, fields in rows:
                position = Position.parse(_text(entry_id))
                if position not in found:
                    event = decode(fields[b"m"].decode())
                    found[position] = Entry(event, position, cursor_of(epoch, position))
        if len(found) > limit:
            return Since([], stale=True)
        return Since([found[p] for p in sorted(found)])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_memory_log = MemoryLog()
_redis_logs: dict[str, RedisLog] = {}


def memory_log() -> MemoryLog:
    return _memory_log


def redis_log() -> RedisLog:
    prefix = settings.REDIS_KEY_PREFIX
    found = _redis_logs.get(prefix)
    if found is None:
        found = _redis_logs[prefix] = RedisLog(prefix)
    return found


# --- Members: one per socket ------------------------------------------------------------------


class Member:
    """A socket's place in its process's hub. ``push`` (the transport's) frames and writes one
    entry; while the socket resumes, live entries wait in ``held`` until the missed ones are
    out."""

    hub_groups: tuple[str, ...] = ()
    held: list[Entry] | None = None
    last_position: Position | None = None

    def offer(self, entry: Entry) -> None:
        if self.held is not None:
            self.held.append(entry)
            if len(self.held) > settings.EVENT_RESUME_MAX_EVENTS:
                self.held = None
                self.overflow()
            return
        if entry.position is not None:
            if self.last_position is not None and entry.position <= self.last_position:
                return  # sent already (replayed)
            self.last_position = entry.position
        self.push(entry)

    def push(self, entry: Entry) -> None:
        raise NotImplementedError

    def overflow(self) -> None:
        """The socket fell too far behind: close it (1013); it resumes with its cursor."""
        raise NotImplementedError


# --- The hub: one per event loop (a server process) ------------------------------------------


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.groups: dict[str, set[Member]] = {}
        self.members = 0
        self.sinks: list[Callable[[Entry], None]] = []
        self.listener: asyncio.Task | None = None
        self.subscribed = asyncio.Event()
        self.down = False  # the listener lost Redis and is trying again
        self.retry_now = asyncio.Event()
        self.attempted = asyncio.Event()  # an attempt to listen again failed
        self.delivered = 0

    # --- membership ---

    def join(self, member: Member, groups: Iterable[str]) -> None:
        added = tuple(g for g in groups if g not in member.hub_groups)
        if not member.hub_groups and added:
            self.members += 1
        for group in added:
            self.groups.setdefault(group, set()).add(member)
        member.hub_groups = member.hub_groups + added

    def leave(self, member: Member, groups: Iterable[str] | None = None) -> None:
        leaving = member.hub_groups if groups is None else tuple(groups)
        for group in leaving:
            found = self.groups.get(group)
            if found is not None:
                found.discard(member)
                if not found:
                    del self.groups[group]
        had = bool(member.hub_groups)
        member.hub_groups = tuple(g for g in member.hub_groups if g not in leaving)
        if had and not member.hub_groups:
            self.members -= 1

    def local_members(self) -> set[Member]:
        found: set[Member] = set()
        for members in self.groups.values():
            found |= members
        return found

    # --- delivery (in the loop) ---

    def deliver(self, entry: Entry) -> None:
        groups = entry.event.groups
        if len(groups) == 1:
            targets: Iterable[Member] = tuple(self.groups.get(groups[0], ()))
        else:
            seen: set[Member] = set()
            for group in groups:
                seen.update(self.groups.get(group, ()))
            targets = seen
        for member in targets:
            try:
                member.offer(entry)
            except Exception:
                logger.exception("Could not hand %s to a socket", entry.event.type)
        for sink in list(self.sinks):
            try:
                sink(entry)
            except Exception:
                logger.exception("Could not hand %s to a transport", entry.event.type)
        self.delivered += 1

    # --- resuming ---

    async def subscribe(self, member: Member, groups: Iterable[str], cursor: Any) -> tuple:
        """Join ``groups``; returns (resumed, the cursor to report, the missed entries).
        The caller sends its greeting, then ``replay``s the entries."""
        try:
            return await self._subscribe(member, groups, cursor)
        except outage.REDIS_ERRORS:  # a pooled connection Redis closed (it restarted): again
            return await self._subscribe(member, groups, cursor)

    async def _subscribe(self, member: Member, groups: Iterable[str], cursor: Any) -> tuple:
        await self.ready()
        groups = tuple(groups)
        if settings.REDIS_URL:
            from crm.events import Event
            from crm.redis import aclient

            client = aclient()
            log = redis_log()
            start = cursor if cursor_parse(cursor) else await log.head(client)
            member.held = []
            self.join(member, groups)
            try:
                since = await log.since(client, groups, start, Event.from_log)
                if since.stale and start is not cursor:
                    since = Since([])
                if since.stale:  # the cursor is too old: from now on
                    start = await log.head(client)
                    since = await log.since(client, groups, start, Event.from_log)
            except BaseException:
                member.held = None
                self.leave(member)
                raise
        else:
            log = memory_log()
            start = cursor if cursor_parse(cursor) else log.head()
            member.held = []
            self.join(member, groups)
            since = log.since(groups, start)
            if since.stale and start is not cursor:
                since = Since([])
            if since.stale:
                start = log.head()
                since = log.since(groups, start)
        resumed = cursor is not None and start is cursor
        start_position = cursor_parse(start)[1]
        member.last_position = start_position
        return resumed, start, since.entries

    def replay(self, member: Member, entries: list[Entry]) -> None:
        """Send the missed entries, then the live ones held meanwhile (each once, in order)."""
        held, member.held = member.held or [], None
        for entry in entries:
            member.offer(entry)
        for entry in held:
            member.offer(entry)

    # --- listening (Redis) ---

    async def ready(self) -> None:
        """Wait until this process hears every event published from now on."""
        if not settings.REDIS_URL:
            return
        if self.listener is None or self.listener.done():
            self.subscribed.clear()
            self.down = False
            self.listener = self.loop.create_task(self._listen())
        if self.subscribed.is_set():
            return
        waits = [self.loop.create_task(self.subscribed.wait())]
        if self.down:  # Redis failed a while ago: try again now rather than at the next retry
            self.attempted.clear()
            self.retry_now.set()
            waits.append(self.loop.create_task(self.attempted.wait()))
        try:
            await asyncio.wait(
                waits,
                timeout=settings.REDIS_SOCKET_TIMEOUT * 5,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in waits:
                task.cancel()
        if not self.subscribed.is_set():
            import redis

            raise redis.exceptions.ConnectionError("not listening to events: Redis is down")

    async def _listen(self) -> None:
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from crm.events import Event

        log = redis_log()
        retry = 0.5
        while True:
            client = aredis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=None,  # listening blocks until an event comes
                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=15,
                retry=Retry(NoBackoff(), 0),  # this loop retries, and a new socket can ask it to
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(log.channel)
                self.subscribed.set()
                self.down = False
                retry = 0.5
                outage.recovered("event_listen")
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    self._deliver_published(message["data"], Event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.report("event_listen", exc)
            finally:
                self.subscribed.clear()
                self.down = True
                self.attempted.set()
                with contextlib.suppress(BaseException):
                    await pubsub.aclose()
                with contextlib.suppress(BaseException):
                    await client.aclose()
            # Events published meanwhile reach nobody here: every socket reconnects and
            # resumes from its cursor (on this process or another).
            self._drop_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.retry_now.wait(), retry)
            self.retry_now.clear()
            retry = min(retry * 2, MAX_RETRY_SECONDS)

    def _deliver_published(self, data: bytes, event_class) -> None:
        text = data.decode()
        epoch, _, rest = text.partition(" ")
        if epoch == "-":  # not logged (typing)
            self.deliver(Entry(event_class.from_log(rest)))
            return
        entry_id, _, message = rest.partition(" ")
        position = Position.parse(entry_id)
        self.deliver(Entry(event_class.from_log(message), position, cursor_of(epoch, position)))

    def _drop_all(self) -> None:
        for member in self.local_members():
            with contextlib.suppress(Exception):
                member.lost()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def hub() -> Hub:
    """The running event loop's hub."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        with _hubs_lock:
            found = _hubs.get(loop)
            if found is None:
                found = _hubs[loop] = Hub(loop)
    return found


def hubs() -> list[Hub]:
    with _hubs_lock:
        return [h for loop, h in list(_hubs.items()) if not loop.is_closed()]


def deliver_everywhere(entry: Entry) -> None:
    """Hand ``entry`` to every hub of this process, in its own loop (any thread)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for found in hubs():
        if found.loop is running:
            found.deliver(entry)
        else:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                found.loop.call_soon_threadsafe(found.deliver, entry)


# --- Writing to a daphne socket without a task -------------------------------------------------


def daphne_protocol(send: Any):
    """The daphne (autobahn) protocol behind an ASGI ``send``, or None for any other server.
    Our wrappers of ``send`` name what they wrap in ``__wrapped__``; Channels' session
    middleware keeps it as ``real_send``."""
    for _ in range(8):
        if isinstance(send, functools.partial) and send.args:
            protocol = send.args[0]
            if hasattr(protocol, "sendPreparedMessage") and hasattr(protocol, "transport"):
                return protocol
            return None
        inner = getattr(send, "__wrapped__", None)
        if inner is None:
            inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            return None
        send = inner
    return None


def pending_bytes(transport: Any) -> int:
    """Bytes a Twisted transport holds that the kernel has not taken yet."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0
