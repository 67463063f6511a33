"""Workspace pages benchmark: 10,000 support chats and one conversation of 1,000 messages.

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm python benchmarks/workspace_pages.py
    python benchmarks/workspace_pages.py            # SQLite scratch file instead

Makes its own scratch database (PostgreSQL: ``<name of DATABASE_URL's db>_wsbench``, rebuilt
with --rebuild; SQLite: a temporary file), fills it with bulk inserts through the ORM, then
renders each page in-process with Django's test client as a signed-in operator: the view, the
selectors, the ORM and the templates, not the network. Prints the query count of each page
with 10,000 chats beside the same page for an organization with 5 chats (they must be equal:
no query per row), p50/p95 server time over --requests requests, and the p50 of this
process's CPU time (the Python side; the rest is the database and waiting for a core). Exits 1
when a p95 is over its budget (--budget-scale on a busy machine) or a query count grows with
the data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scratch  # noqa: E402

CHATS = 10_000
LONG_CHAT_MESSAGES = 1_000
STAFF = 5
TINY_CHATS = 5
BATCH = 2_000
P95_BUDGET_MS = 150.0


def _organization(slug: str, chats: int, long_chat_messages: int) -> None:
    """An organization with staff, ``chats`` support chats (one customer message each, a
    third assigned, statuses and priorities mixed, unread read-state rows for the staff) and
    one conversation of ``long_chat_messages`` messages."""
    from django.utils import timezone

    from accounts.models import Organization, Role, User
    from chats.models import Chat, ChatKind, Membership, Message
    from chats.selectors import web_inbox_for

    org = Organization.objects.create(slug=slug, name=slug.title())
    staff = [
        User.objects.create_user(
            f"staff{i}@{slug}.example.com",
            "bench-password-1",
            organization=org,
            role=Role.ADMIN if i == 0 else Role.OPERATOR,
            name=f"Staff {i}",
        )
        for i in range(STAFF)
    ]
    inbox = web_inbox_for(organization=org)
    start = timezone.now() - timedelta(days=60)
    statuses = ["open", "open", "pending", "closed"]
    priorities = ["low", "normal", "normal", "high", "urgent"]
    for first in range(0, chats, BATCH):
        numbers = range(first, min(chats, first + BATCH))
        customers = User.objects.bulk_create(
            User(
                email=f"customer{n}@{slug}.example.com",
                name=f"Customer {n}",
                password="!",
                role=Role.CUSTOMER,
                organization=org,
            )
            for n in numbers
        )
        rows = Chat.objects.bulk_create(
            Chat(
                organization=org,
                kind=ChatKind.SUPPORT,
                inbox=inbox,
                customer=customer,
                subject=f"Order question {n}" if n % 2 else "",
                status=statuses[n % 4],
                priority=priorities[n % 5],
                assignee=staff[n % STAFF] if n % 3 == 0 else None,
                created_at=start + timedelta(minutes=n),
                last_activity_at=start + timedelta(minutes=n, seconds=30),
            )
            for n, customer in zip(numbers, customers, strict=True)
        )
        messages = Message.objects.bulk_create(
            Message(
                chat=chat,
                sender=chat.customer,
                text=f"Hello, this is about my order {n}, when will it arrive?",
                created_at=chat.last_activity_at,
            )
            for n, chat in zip(numbers, rows, strict=True)
        )
        for chat, message in zip(rows, messages, strict=True):
            chat.last_message = chat.last_public_message = message
            chat.last_message_at = message.created_at
        Chat.objects.bulk_update(
            rows, ["last_message", "last_public_message", "last_message_at"], batch_size=500
        )
        Membership.objects.bulk_create(
            [Membership(chat=chat, user=chat.customer, is_participant=True) for chat in rows]
            + [
                Membership(chat=chat, user=user, is_participant=False, unread_count=1)
                for chat in rows
                for user in staff[:2]
            ]
        )
    # The long conversation: the newest chat, customer and staff taking turns, some notes.
    chat = Chat.objects.filter(organization=org).order_by("-last_activity_at").first()
    at = timezone.now() - timedelta(days=1)
    history = Message.objects.bulk_create(
        Message(
            chat=chat,
            sender=chat.customer if m % 2 else staff[1],
            kind="note" if m % 25 == 0 else "text",
            staff_only=m % 25 == 0,
            text=f"Message {m} of a long conversation about a delivery",
            created_at=at + timedelta(seconds=m * 30),
        )
        for m in range(long_chat_messages)
    )
    Chat.objects.filter(pk=chat.pk).update(
        last_message=history[-1],
        last_public_message=next(m for m in reversed(history) if not m.staff_only),
        last_message_at=history[-1].created_at,
        last_activity_at=history[-1].created_at,
    )


def fill() -> None:
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    _organization("bench", CHATS, LONG_CHAT_MESSAGES)
    _organization("tiny", TINY_CHATS, TINY_CHATS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    print(f"  filled in {time.perf_counter() - t0:.1f} s")


def _pages(slug: str) -> list[tuple[str, str]]:
    from chats.models import Chat, Message

    chat = Chat.objects.filter(organization__slug=slug).order_by("-last_activity_at", "-id").first()
    return [
        ("/admin/inbox/ (Mine)", "/admin/inbox/?tab=mine"),
        ("/admin/inbox/ (Unassigned)", "/admin/inbox/?tab=unassigned"),
        ("/admin/inbox/ (All)", "/admin/inbox/?tab=all"),
        ("/admin/inbox/ (All, any status, search)", "/admin/inbox/?tab=all&status=any&q=order"),
        (
            f"/admin/inbox/<id>/ ({Message.objects.filter(chat=chat).count():,} messages)",
            f"/admin/inbox/{chat.pk}/",
        ),
        ("/admin/ (dashboard)", "/admin/"),
    ]


def _client(slug: str):
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=f"staff0@{slug}.example.com"))
    return client


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(ctx.captured_queries)


def measure(args: argparse.Namespace) -> int:
    from chats.models import Chat, Message

    print(
        f"Data: {Chat.objects.count():,} chats, {Message.objects.count():,} messages "
        f"(organization 'bench': {Chat.objects.filter(organization__slug='bench').count():,})"
    )
    big, tiny = _client("bench"), _client("tiny")
    budget = P95_BUDGET_MS * args.budget_scale
    over: list[str] = []
    print()
    print(
        f"{'page':48} {'queries':>7} {'(5 chats)':>9} {'p50 ms':>8} {'p95 ms':>8} {'budget':>7}"
        f" {'cpu p50':>8}"
    )
    for (label, url), (_, tiny_url) in zip(_pages("bench"), _pages("tiny"), strict=True):
        queries = _queries(big, url)
        tiny_queries = _queries(tiny, tiny_url)
        for _ in range(3):  # warm caches and connections
            big.get(url)
        times, cpu = [], []
        for _ in range(args.requests):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = big.get(url)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200
        times.sort()
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        flag = ""
        if p95 > budget:
            over.append(f"{label}: p95 {p95:.1f} ms > {budget:.0f} ms")
            flag = "  OVER"
        if queries != tiny_queries:
            over.append(f"{label}: {queries} queries with 10,000 chats, {tiny_queries} with 5")
            flag += "  QUERIES GROW"
        print(
            f"{label:48} {queries:>7} {tiny_queries:>9} {p50:>8.1f} {p95:>8.1f} "
            f"{budget:>7.0f} {statistics.median(cpu):>8.1f}{flag}"
        )
    print()
    if over:
        print("Over budget:\n  " + "\n  ".join(over))
        return 1
    print("All pages within budget, query counts independent of the data size.")
    return 0


def main() -> int:
    args = scratch.parse_args(__doc__, requests=30, rebuild_help="drop and refill (PostgreSQL)")

    def filled() -> bool:
        from chats.models import Chat

        return Chat.objects.count() >= CHATS + TINY_CHATS

    scratch.prepare("wsbench", rebuild=args.rebuild, filled=filled, fill=fill, allow_sqlite=True)
    from django.db import connection

    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
