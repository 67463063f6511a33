"""Conversation page benchmark on PostgreSQL: 10,000 chats, one of them with 1,000 messages.

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm python benchmarks/workspace_conversation.py

Creates (or reuses, see --rebuild) its own database, ``<name of DATABASE_URL's db>_bench_cv``,
fills it with bulk SQL, then times ``GET /admin/inbox/<chat_id>/`` in-process through Django's
test client with a signed-in operator: session, the view, the selectors and the template, not
the network. Prints the page's query count and p50/p95 for the long conversation and a short
one, and exits 1 when a p50 is over its budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scratch  # noqa: E402

CHATS = 10_000
LONG_HISTORY = 1_000
PASSWORD = "bench-password-1"
BUDGET_MS = 60.0  # p50 per page (2-core machine, in-process client)


def fill() -> None:
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Organization, Role, User
    from chats.models import Chat
    from chats.selectors import web_inbox_for
    from chats.services import message_send
    from orders.services import order_create

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    org = Organization.objects.create(slug="bench", name="Bench")
    operator = User.objects.create_user(
        "operator@bench.example.com", PASSWORD, organization=org, role=Role.OPERATOR, name="Op"
    )
    inbox = web_inbox_for(organization=org)
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_user")
        (base_user,) = cur.fetchone()
        params = {
            "org": org.pk,
            "inbox": inbox.pk,
            "chats": CHATS,
            "base": base_user,
            "op": operator.pk,
            "long": LONG_HISTORY,
        }
        cur.execute(
            """
            INSERT INTO accounts_user (id, password, is_superuser, email, name, avatar, role,
                organization_id, is_active, is_online, date_joined)
            SELECT %(base)s + n, '!', false, 'customer' || n || '@bench.example.com',
                   'Customer ' || n, '', 'customer', %(org)s, true, false, now()
            FROM generate_series(1, %(chats)s) n
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO chats_chat (id, organization_id, kind, name, subject, inbox_id,
                customer_id, status, priority, assignee_id, last_activity_at, created_at)
            SELECT n, %(org)s, 'support', '', 'Question ' || n, %(inbox)s, %(base)s + n,
                   (ARRAY['open','pending','closed'])[1 + n %% 3], 'normal',
                   CASE WHEN n %% 2 = 0 THEN %(op)s END, now(), now()
            FROM generate_series(1, %(chats)s) n
            """,
            params,
        )
        # Chat 1: 1,000 messages, customer and operator taking turns, every 25th a note;
        # every other chat: two messages.
        cur.execute(
            """
            INSERT INTO chats_message (chat_id, sender_id, kind, text, staff_only, automated,
                                       created_at)
            SELECT 1, CASE WHEN m %% 2 = 0 THEN %(base)s + 1 ELSE %(op)s END,
                   CASE WHEN m %% 25 = 0 THEN 'note' ELSE 'text' END,
                   'Message ' || m || ' about the parcel', m %% 25 = 0, false,
                   now() - (%(long)s - m) * interval '1 minute'
            FROM generate_series(1, %(long)s) m
            UNION ALL
            SELECT c, CASE WHEN m = 1 THEN %(base)s + c ELSE %(op)s END, 'text',
                   'Hello ' || c, false, false, now()
            FROM generate_series(2, %(chats)s) c CROSS JOIN generate_series(1, 2) m
            """,
            params,
        )
        cur.execute(
            """
            UPDATE chats_chat c SET last_message_id = s.last_id,
                   last_public_message_id = s.last_public_id,
                   last_message_at = s.at, last_activity_at = s.at
            FROM (SELECT chat_id, MAX(id) AS last_id,
                         MAX(id) FILTER (WHERE NOT staff_only) AS last_public_id,
                         MAX(created_at) AS at
                  FROM chats_message GROUP BY chat_id) s
            WHERE s.chat_id = c.id
            """
        )
        cur.execute(
            """
            INSERT INTO chats_membership (chat_id, user_id, is_participant,
                last_read_message_id, unread_count, joined_at)
            SELECT c.id, c.customer_id, true, c.last_message_id, 0, c.created_at
            FROM chats_chat c
            """
        )
        for table in ("accounts_user", "chats_chat", "chats_message", "chats_membership"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )
    # The long chat's customer has orders: made through the service, as staff would.
    long_chat = Chat.objects.get(pk=1)
    for n in range(5):
        order_create(
            actor=operator,
            title=f"Order {n}",
            customer_id=long_chat.customer_id,
            chat_id=long_chat.pk,
            items=[{"name": "Lamp", "quantity": 1, "unit_price": "19.90"}],
        )
    message_send(sender=operator, chat=long_chat, text="Anything else?")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"  loaded in {time.perf_counter() - t0:.1f} s")


def measure(args: argparse.Namespace) -> int:
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from chats.models import Chat, Message

    operator = User.objects.get(email="operator@bench.example.com")
    client = Client()
    client.force_login(operator)
    print(f"Data: {Chat.objects.count():,} chats, {Message.objects.count():,} messages")
    cases = [
        (f"conversation, {Message.objects.filter(chat_id=1).count():,} messages", 1),
        ("conversation, 2 messages", CHATS // 2),
    ]
    over = []
    print(f"\n{'page':40} {'queries':>8} {'p50 ms':>8} {'p95 ms':>8} {'budget':>8}")
    for label, chat_id in cases:
        url = f"/admin/inbox/{chat_id}/"
        for _ in range(3):
            assert client.get(url).status_code == 200
        queries = []

        # Counted by a wrapper: the request's start resets Django's own query log.
        def count(run, sql, *rest, seen=queries):
            seen.append(sql)
            return run(sql, *rest)

        with connection.execute_wrapper(count):
            assert client.get(url).status_code == 200
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        times.sort()
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        budget = BUDGET_MS * args.budget_scale
        flag = "" if p50 <= budget else "  OVER BUDGET"
        print(f"{label:40} {len(queries):8} {p50:8.1f} {p95:8.1f} {budget:8.0f}{flag}")
        if flag:
            over.append(label)
    print()
    if over:
        print(f"Over budget: {', '.join(over)}")
        return 1
    print("All within budget.")
    return 0


def main() -> int:
    args = scratch.parse_args(__doc__, requests=40)

    def filled() -> bool:
        from chats.models import Chat, Message

        return Chat.objects.count() >= CHATS and Message.objects.count() >= LONG_HISTORY

    scratch.prepare("bench_cv", rebuild=args.rebuild, filled=filled, fill=fill)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
