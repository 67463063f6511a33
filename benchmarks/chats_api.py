"""Chat API benchmark on PostgreSQL: 10,000 chats and 1,000,000 messages.

    DATABASE_URL=postgres://root@127.0.0.1:5432/crm python benchmarks/chats_api.py

Creates (or reuses, see --rebuild) its own database, ``<name of DATABASE_URL's db>_bench``,
fills it with bulk SQL (INSERT ... SELECT over generate_series, a few seconds for a million
rows), then times the API in-process through Django's test client with a real JWT: every
request runs authentication, the view, the ORM and the JSON rendering, not the network.
Prints the query count of the chat list and of a history page, p50/p95 of each request, and
compares each p50 with its budget; exits 1 when one is over budget.
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
GROUP_CHATS = 100
MESSAGES = 1_000_000
STAFF = 5

# p50 budgets in milliseconds (2-core machine, in-process client); override with --budget.
BUDGETS_MS = {
    "GET /api/chats (staff)": 60.0,
    "GET /api/chats?status=open&assigned=false": 60.0,
    "GET /api/chats?unread=true": 80.0,
    "GET /api/chats (customer)": 30.0,
    "GET /api/chats/{id}/messages": 40.0,
    "GET /api/chats/{id}/messages?before=": 40.0,
    "GET /api/unread/counts": 60.0,
    "GET /api/messages/search?q=<common words>": 150.0,
    "GET /api/messages/search?q=<rare word>": 150.0,
}


def fill() -> None:
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Organization, Role, User
    from chats.selectors import web_inbox_for

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    org = Organization.objects.create(slug="bench", name="Bench")
    staff = [
        User.objects.create_user(
            f"staff{i}@bench.example.com",
            "bench-password-1",
            organization=org,
            role=Role.ADMIN if i == 0 else Role.OPERATOR,
            name=f"Staff {i}",
        )
        for i in range(STAFF)
    ]
    inbox = web_inbox_for(organization=org)
    staff_ids = [u.pk for u in staff]
    support = CHATS - GROUP_CHATS
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_user")
        (base_user,) = cur.fetchone()
        params = {
            "org": org.pk,
            "inbox": inbox.pk,
            "support": support,
            "chats": CHATS,
            "messages": MESSAGES,
            "base_user": base_user,
            "staff": staff_ids,
            "nstaff": len(staff_ids),
        }
        # Customers 1..support get ids base_user + n; chat n belongs to customer n.
        cur.execute(
            """
            INSERT INTO accounts_user (id, password, is_superuser, email, name, avatar, role,
                organization_id, is_active, is_online, date_joined)
            SELECT %(base_user)s + n, '!', false, 'customer' || n || '@bench.example.com',
                   'Customer ' || n, '', 'customer', %(org)s, true, false,
                   now() - interval '400 days'
            FROM generate_series(1, %(support)s) n
            """,
            params,
        )
        cur.execute(
            """
            INSERT INTO chats_chat (id, organization_id, kind, name, subject, inbox_id,
                customer_id, status, priority, assignee_id, created_by_id,
                last_activity_at, created_at)
            SELECT n, %(org)s,
                   CASE WHEN n <= %(support)s THEN 'support' ELSE 'group' END,
                   CASE WHEN n <= %(support)s THEN '' ELSE 'Team ' || n END,
                   CASE WHEN n <= %(support)s THEN 'Order question ' || n ELSE '' END,
                   CASE WHEN n <= %(support)s THEN %(inbox)s END,
                   CASE WHEN n <= %(support)s THEN %(base_user)s + n END,
                   (ARRAY['open','open','pending','closed'])[1 + n %% 4],
                   (ARRAY['low','normal','normal','high','urgent'])[1 + n %% 5],
                   CASE WHEN n <= %(support)s AND n %% 3 > 0
                        THEN (%(staff)s::bigint[])[1 + n %% %(nstaff)s] END,
                   CASE WHEN n > %(support)s THEN (%(staff)s::bigint[])[1] END,
                   now() - interval '400 days', now() - interval '400 days'
            FROM generate_series(1, %(chats)s) n
            """,
            params,
        )
        # Message m goes to chat 1 + (m - 1) %% chats, so every chat's history is spread over
        # the whole id range; senders alternate customer and staff, every 20th is a note.
        cur.execute("DROP INDEX IF EXISTS chats_message_text_fts")
        cur.execute(
            """
            INSERT INTO chats_message (id, chat_id, sender_id, kind, text, staff_only, automated,
                                       created_at)
            SELECT m, c,
                   CASE WHEN c <= %(support)s AND (m / %(chats)s) %% 2 = 0 AND m %% 20 <> 0
                        THEN %(base_user)s + c
                        ELSE (%(staff)s::bigint[])[1 + (m / 7) %% %(nstaff)s] END,
                   CASE WHEN m %% 20 = 0 AND c <= %(support)s THEN 'note' ELSE 'text' END,
                   'Message ' || m || ' about ' ||
                   (ARRAY['parcel','refund','delivery','invoice','hello','thanks','broken',
                          'address','payment','return'])[1 + m %% 10] || ' ' ||
                   (ARRAY['today','tomorrow','again','please','quickly','soon','now'])
                   [1 + (m / 10) %% 7] || ' order ' || (m %% 9973),
                   m %% 20 = 0 AND c <= %(support)s, false,
                   now() - interval '400 days' + m * interval '30 seconds'
            FROM (SELECT m, 1 + (m - 1) %% %(chats)s AS c
                  FROM generate_series(1, %(messages)s) m) s
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
        # Read pointers: customers read up to a few messages back, staff at varying depths;
        # group chats have every staff member as a participant.
        cur.execute(
            """
            INSERT INTO chats_membership (chat_id, user_id, is_participant,
                last_read_message_id, unread_count, joined_at)
            SELECT c.id, c.customer_id, true,
                   c.last_message_id - %(chats)s * (c.id %% 4), 0, c.created_at
            FROM chats_chat c WHERE c.kind = 'support'
            UNION ALL
            SELECT c.id, s.uid, c.kind <> 'support',
                   GREATEST(c.last_message_id - %(chats)s * ((c.id + s.k) %% 6), 0), 0,
                   c.created_at
            FROM chats_chat c
            CROSS JOIN LATERAL unnest(%(staff)s::bigint[]) WITH ORDINALITY AS s(uid, k)
            """,
            params,
        )
        for table in ("accounts_user", "chats_chat", "chats_message", "chats_membership"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )
        t_fts = time.perf_counter()
        cur.execute(
            "CREATE INDEX chats_message_text_fts ON chats_message "
            "USING gin (to_tsvector('simple'::regconfig, COALESCE(text, '')))"
        )
        print(f"  full-text index built in {time.perf_counter() - t_fts:.1f} s")
    t_loaded = time.perf_counter()
    print(f"  rows loaded in {t_loaded - t0:.1f} s")
    from chats.services import unread_counts_rebuild

    fixed = unread_counts_rebuild()
    print(
        f"  unread_counts_rebuild: {fixed} memberships counted from their pointers in "
        f"{time.perf_counter() - t_loaded:.1f} s"
    )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def measure(args: argparse.Namespace) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import tokens_for
    from chats.models import Chat, Membership, Message

    staff = User.objects.filter(email="staff1@bench.example.com").get()
    customer = User.objects.filter(email="customer4321@bench.example.com").get()
    counts = {
        "chats": Chat.objects.count(),
        "messages": Message.objects.count(),
        "memberships": Membership.objects.count(),
    }
    print("Data: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    staff_client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens_for(staff)['access']}")
    customer_client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens_for(customer)['access']}")
    chat_id = Chat.objects.get(customer=customer).pk
    middle = Message.objects.filter(chat_id=chat_id).order_by("id").values_list("id", flat=True)[50]
    cases = [
        ("GET /api/chats (staff)", staff_client, "/api/chats"),
        (
            "GET /api/chats?status=open&assigned=false",
            staff_client,
            "/api/chats?status=open&assigned=false",
        ),
        ("GET /api/chats?unread=true", staff_client, "/api/chats?unread=true"),
        ("GET /api/chats (customer)", customer_client, "/api/chats"),
        ("GET /api/chats/{id}/messages", staff_client, f"/api/chats/{chat_id}/messages"),
        (
            "GET /api/chats/{id}/messages?before=",
            staff_client,
            f"/api/chats/{chat_id}/messages?before={middle}&limit=50",
        ),
        ("GET /api/unread/counts", staff_client, "/api/unread/counts"),
        (
            "GET /api/messages/search?q=<common words>",
            staff_client,
            "/api/messages/search?q=refund%20order",
        ),
        ("GET /api/messages/search?q=<rare word>", staff_client, "/api/messages/search?q=4242"),
    ]
    print()
    for label, client, url in (cases[0], cases[4]):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        print(f"{label}: {len(ctx.captured_queries)} queries")
    print()
    print(f"{'request':46} {'p50 ms':>8} {'p95 ms':>8} {'budget':>8}")
    over = []
    for label, client, url in cases:
        for _ in range(3):  # warm caches and connections
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:300])
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        times.sort()
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        budget = BUDGETS_MS[label] * args.budget_scale
        flag = "" if p50 <= budget else "  OVER BUDGET"
        print(f"{label:46} {p50:8.1f} {p95:8.1f} {budget:8.0f}{flag}")
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
        from chats.models import Message

        return Message.objects.count() >= MESSAGES

    scratch.prepare("bench", rebuild=args.rebuild, filled=filled, fill=fill)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
