"""The measuring instrument of benchmarks/realtime_latency.py: the Node peer's copy, its results
read like ours, the budgets judged from medians, py-spy's stacks summed, and the product served
by uvicorn (the benchmark's ``--server uvicorn``)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from accounts.tests.factories import UserFactory
from benchmarks import node_peer
from benchmarks.asgi_servers import start_uvicorn
from benchmarks.profiling import callers, top_own, top_total
from benchmarks.realtime_latency import (
    BUDGET,
    Result,
    budget_checks,
    parse_args,
    summarize,
    write_json,
)
from chats.tests.factories import support_chat
from crm.tests.daphne_servers import http_json, server_environment


def peer_row(clients: int, **changes) -> dict:
    row = {
        "name": "node",
        "clients": clients,
        "failed": 0,
        "connect_s": 0.5,
        "p50": 10.0,
        "p99": 40.0,
        "sent": 6000,
        "sent_per_s": 900.0,
        "delivered_per_s": 50000.0,
        "missing": 0,
        "probe_missing": 0,
        "srv_cpu_s": 9.0,
        "cli_cpu_s": 4.0,
        "window_s": 6.5,
        "send_s": 6.0,
    }
    row.update(changes)
    return row


def product(name: str, clients: int, *, per_s: float, p99: float, posts: float, lost=0):
    """A Result whose medians come out as given (6 s of sending, 6 s window)."""
    return Result(
        name=name,
        clients=clients,
        latencies_ms=[p99 / 4] * 98 + [p99] * 2,
        sent=round(posts * 6),
        send_s=6.0,
        delivered=round(per_s * 6),
        window_s=6.0,
        missing=lost,
        server_cpu_s=3.0,
    )


def test_the_peers_results_read_like_the_products():
    r = Result.from_peer(peer_row(100), seconds=6)
    assert (r.name, r.clients, r.p50, r.p99) == ("node", 100, 10.0, 40.0)
    assert r.posts_per_second == pytest.approx(1000.0)  # sent / send_s, not the window
    assert r.per_second == pytest.approx(50000.0, rel=1e-4)
    assert r.drain_s == pytest.approx(0.5)
    assert r.cpu_ms_per_post == pytest.approx(1.5)
    assert r.lost == 0
    lossy = Result.from_peer(peer_row(100, missing=3, probe_missing=2, failed=1), seconds=6)
    assert lossy.lost == 6
    # A driver without send_s (the copy could not be changed): the window stands in.
    old = peer_row(100)
    del old["send_s"]
    assert Result.from_peer(old, seconds=6).posts_per_second == pytest.approx(6000 / 6.5)


def verdicts(results: list[Result]) -> dict[str, str]:
    return {c.label: c.verdict for c in budget_checks(summarize(results))}


def test_budgets_are_ratios_to_the_peer_and_the_floor_from_medians():
    node = [
        Result.from_peer(peer_row(100, delivered_per_s=40000.0, p99=40.0), seconds=6),
        Result.from_peer(peer_row(1000, delivered_per_s=80000.0, p99=40.0), seconds=6),
    ]
    floor = [product("floor", 1000, per_s=20000, p99=50, posts=100)]
    at_the_limits = [
        # 0.5x the peer's deliveries and 2x the floor's, p99 3x, POSTs/s 0.3x: all pass.
        product("app", 1000, per_s=40000, p99=120, posts=300),
        product("app", 100, per_s=20000, p99=120, posts=300),
    ]
    got = verdicts(node + floor + at_the_limits)
    assert got == {
        "product /ws/ deliveries/s at 1,000 ÷ Node peer's": "PASS",
        "product /ws/ deliveries/s at 1,000 ÷ floor's": "PASS",
        "product /ws/ p99 at 100 ÷ Node peer's": "PASS",
        "product /ws/ lost at 100 (worst run)": "PASS",
        "product /ws/ p99 at 1,000 ÷ Node peer's": "PASS",
        "product /ws/ lost at 1,000 (worst run)": "PASS",
        "product /ws/ POSTs/s at 100 ÷ Node peer's": "PASS",
    }
    below = [
        product("app", 1000, per_s=39000, p99=121, posts=300),
        product("app", 100, per_s=20000, p99=100, posts=290, lost=1),
    ]
    got = verdicts(node + floor + below)
    assert got["product /ws/ deliveries/s at 1,000 ÷ Node peer's"] == "FAIL"
    assert got["product /ws/ deliveries/s at 1,000 ÷ floor's"] == "FAIL"  # 1.95x
    assert got["product /ws/ p99 at 1,000 ÷ Node peer's"] == "FAIL"
    assert got["product /ws/ lost at 100 (worst run)"] == "FAIL"
    assert got["product /ws/ POSTs/s at 100 ÷ Node peer's"] == "FAIL"


def test_medians_over_runs_and_the_worst_loss():
    runs = [
        product("app", 100, per_s=1000, p99=100, posts=10),
        product("app", 100, per_s=3000, p99=300, posts=30, lost=2),
        product("app", 100, per_s=2000, p99=200, posts=20),
    ]
    summary = summarize(runs)[("app", 100)]
    assert summary.median("per_second") == pytest.approx(2000)
    assert summary.median("p99") == pytest.approx(200)
    assert summary.median("posts_per_second") == pytest.approx(20)
    assert summary.median("lost") == 0
    assert summary.worst_lost == 2


def test_the_json_has_every_run_the_medians_and_the_verdicts(tmp_path):
    results = [
        product("app", 100, per_s=1000, p99=100, posts=10),
        product("app", 100, per_s=3000, p99=300, posts=30, lost=2),
        Result.from_peer(peer_row(100), seconds=6),
    ]
    summaries = summarize(results)
    out = tmp_path / "bench.json"
    args = parse_args(["--clients", "100", "--runs", "2"])
    write_json(str(out), results, summaries, budget_checks(summaries), args)
    data = json.loads(out.read_text())
    assert [r["side"] for r in data["results"]] == ["app", "app", "node"]
    medians = {(m["side"], m["clients"]): m for m in data["medians"]}
    assert medians[("app", 100)]["per_second"] == pytest.approx(2000)
    assert medians[("app", 100)]["worst_lost"] == 2
    verdicts = {b["budget"]: b["verdict"] for b in data["budgets"]}
    assert verdicts["product /ws/ lost at 100 (worst run)"] == "FAIL"
    assert (data["runs"], data["clients"], data["staff"]) == (2, [100], 50)


def test_a_budget_without_its_side_is_not_passed():
    got = verdicts([product("app", 1000, per_s=40000, p99=100, posts=300)])
    assert got["product /ws/ deliveries/s at 1,000 ÷ Node peer's"] == "n/a"
    assert got["product /ws/: 100 clients not measured"] == "n/a"
    assert BUDGET == {"vs_peer": 0.5, "vs_floor": 2.0, "p99_vs_peer": 3.0, "posts_vs_peer": 0.3}


def test_py_spy_stacks_summed_by_own_and_total_time():
    stacks = [
        (["<module> (daphne/cli.py:10)", "send (chats/api.py:5)", "dumps (json/__init__.py:1)"], 5),
        (["<module> (daphne/cli.py:10)", "send (chats/api.py:7)"], 3),
        (["<module> (daphne/cli.py:10)", "select (selectors.py:2)"], 2),
    ]
    assert top_own(stacks, 2) == [
        ("dumps (json/__init__.py)", 5),
        ("send (chats/api.py)", 3),  # the two lines of one function together
    ]
    assert top_total(stacks, 5, within="chats/") == [("send (chats/api.py)", 8)]
    assert callers(stacks, "dumps (json/__init__.py)", within="chats/") == [
        ("send (chats/api.py)", 5)
    ]


def test_the_copy_of_the_node_peer_takes_our_ports_and_reports_the_send_time(tmp_path):
    """The shared peer read-only, its copy changed: if the peer's text moves on, this fails
    (the benchmark then says so and falls back)."""
    peer = node_peer.find_peer_dir()
    modules = tmp_path / "node_modules"
    modules.mkdir()
    copy, notes = node_peer.prepared_copy(peer, modules)
    try:
        assert notes == []
        run_sh = (copy / "run.sh").read_text()
        assert node_peer.PORT_OVERRIDE in run_sh
        assert "send_s: sendS" in (copy / "driver.js").read_text()
        assert (copy / "node_modules").resolve() == modules.resolve()
        assert "PEER_PORTS" not in (peer / "run.sh").read_text()  # the original untouched
        checked = subprocess.run(["bash", "-n", str(copy / "run.sh")], capture_output=True)
        assert checked.returncode == 0, checked.stderr
        if (node := shutil.which("node")) is not None:
            checked = subprocess.run(
                [node, "--check", str(copy / "driver.js")], capture_output=True
            )
            assert checked.returncode == 0, checked.stderr
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_product_under_uvicorn_serves_pages_static_files_websockets_and_socketio(
    organization,
):
    operator = UserFactory(organization=organization, role=Role.OPERATOR)
    customer = UserFactory(organization=organization, role=Role.CUSTOMER)
    chat = support_chat(customer)
    env = server_environment(
        database_url=_database_url(),
        redis_url=settings.REDIS_URL,
        key_prefix=f"{settings.TEST_REDIS_PREFIX}:uv:{uuid.uuid4().hex[:6]}",
    )
    server = start_uvicorn(env)
    try:
        assert http_json("GET", f"{server.url}/health")[0] == 200
        static = http_json("GET", f"{server.url}/static/crm/i18n.js")
        assert static[0] == 200, static
        staff_token = str(AccessToken.for_user(operator))
        customer_token = str(AccessToken.for_user(customer))
        seen = asyncio.run(_sockets(server, staff_token, customer_token, chat.pk))
    finally:
        server.stop()
    assert seen["ws_first"]["type"] == "connection:established"
    assert seen["ws_first"]["data"]["user"]["id"] == operator.pk
    assert seen["ws_new"]["data"]["text"] == "under uvicorn"
    assert seen["sio_connected"].startswith("40")
    event, data = json.loads(seen["sio_new"][2:])
    assert (event, data["text"]) == ("message:new", "under uvicorn")


async def _sockets(server, staff_token: str, customer_token: str, chat_id: int) -> dict:
    from websockets.asyncio.client import connect

    seen: dict = {}
    ws_url = f"{server.ws_url}?token={staff_token}"
    sio_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with (
        connect(ws_url, origin=server.origin, proxy=None) as ws,
        connect(sio_url, origin=server.origin, proxy=None) as sio,
    ):
        seen["ws_first"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (await asyncio.wait_for(sio.recv(), 10)).startswith("0")
        await sio.send("40" + json.dumps({"token": staff_token}))
        seen["sio_connected"] = await _next(sio, lambda p: p.startswith(("40", "44")))
        status, body = await asyncio.to_thread(
            http_json,
            "POST",
            f"{server.url}/api/chats/{chat_id}/messages",
            {"text": "under uvicorn", "client_id": "uv1"},
            token=customer_token,
        )
        assert status == 201, body
        raw = await _next(ws, lambda p: p.startswith('{"type": "message:new"'))
        seen["ws_new"] = json.loads(raw)
        seen["sio_new"] = await _next(sio, lambda p: p.startswith('42["message:new"'))
    return seen


async def _next(conn, wanted) -> str:
    async def read() -> str:
        while True:
            packet = await conn.recv()
            if packet == "2":  # Engine.IO ping
                await conn.send("3")
            elif wanted(packet):
                return packet

    return await asyncio.wait_for(read(), 15)
