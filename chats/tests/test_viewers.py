"""Who has a conversation open: ``chat:viewers`` to the organization's staff on join, leave,
disconnect; never to the customer or another organization; entries of a dead process lapse.
Runs on the cache store by default and on Redis with REDIS_URL (shared by every process)."""

import asyncio

import pytest

from chats import viewers
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, request, sync

pytestmark = pytest.mark.django_db(transaction=True)


async def viewer_events(comm, chat_id: int, quiet: float = 0.15) -> list[list[int]]:
    return [
        [v["id"] for v in f["data"]["viewers"]]
        for f in await frames(comm, quiet)
        if f["type"] == "chat:viewers" and f["data"]["chat_id"] == chat_id
    ]


async def test_staff_see_who_else_has_the_chat_open(
    ws, support, customer, operator, admin_user, other_admin
):
    boris = await ws(operator)
    anna = await ws(admin_user)
    client = await ws(customer)
    stranger = await ws(other_admin)
    assert (await request(client, "chat:join", {"chat_id": support.id}))["type"] == "ack"

    assert (await request(boris, "chat:join", {"chat_id": support.id}))["type"] == "ack"
    assert await viewer_events(boris, support.id) == [[operator.id]]
    assert await viewer_events(anna, support.id) == [[operator.id]]  # not joined, still told

    await request(anna, "chat:join", {"chat_id": support.id})
    assert await viewer_events(boris, support.id) == [[operator.id, admin_user.id]]
    frame = [f for f in await frames(anna) if f["type"] == "chat:viewers"][-1]
    assert frame["data"]["viewers"][1] == {"id": admin_user.id, "name": admin_user.name}

    # A second tab of the same person is one viewer.
    boris_tab = await ws(operator)
    await request(boris_tab, "chat:join", {"chat_id": support.id})
    assert await viewer_events(anna, support.id) == [[operator.id, admin_user.id]]
    await boris_tab.disconnect()
    assert await viewer_events(anna, support.id) == [[operator.id, admin_user.id]]
    assert await viewer_events(boris, support.id) == [[operator.id, admin_user.id]] * 2

    await request(anna, "chat:leave", {"chat_id": support.id})
    assert await viewer_events(boris, support.id) == [[operator.id]]

    await request(anna, "chat:join", {"chat_id": support.id})
    await frames(anna)
    await boris.disconnect()
    assert await viewer_events(anna, support.id) == [[admin_user.id]]

    # The customer and another organization never hear of it.
    assert [f for f in await frames(client) if f["type"] == "chat:viewers"] == []
    assert [f for f in await frames(stranger) if f["type"] == "chat:viewers"] == []


async def test_a_customer_joining_is_no_viewer(ws, support, customer, operator):
    boris = await ws(operator)
    client = await ws(customer)
    await request(client, "chat:join", {"chat_id": support.id})
    assert await viewer_events(boris, support.id) == []
    await request(boris, "chat:join", {"chat_id": support.id})
    assert await viewer_events(boris, support.id) == [[operator.id]]


async def test_a_refused_join_announces_nothing(ws, other_customer, operator, admin_user):
    from chats.services import support_chat_get_or_create

    foreign, _ = await sync(support_chat_get_or_create)(customer=other_customer)
    anna = await ws(admin_user)
    boris = await ws(operator)
    answer = await request(boris, "chat:join", {"chat_id": foreign.id})
    assert answer["type"] == "error" and answer["data"]["code"] == "chat_not_found"
    assert [f for f in await frames(anna) if f["type"] == "chat:viewers"] == []


async def test_viewers_of_a_dead_process_lapse(ws, support, operator, admin_user, settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    # Another process had the chat open and died without closing anything.
    await sync(viewers.viewers_change)(
        chat_id=support.id, user_id=admin_user.id, name="Anna", connection="dead!1", add=True
    )
    anna = await ws(admin_user)
    boris = await ws(operator)
    await request(boris, "chat:join", {"chat_id": support.id})
    assert await viewer_events(anna, support.id) == [[admin_user.id, operator.id]]
    await asyncio.sleep(1.2)
    await request(boris, "chat:leave", {"chat_id": support.id})
    await request(boris, "chat:join", {"chat_id": support.id})
    assert await viewer_events(anna, support.id) == [[], [operator.id]]


async def test_the_heartbeat_keeps_a_viewer_alive(ws, support, operator, admin_user, settings):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.3
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    boris = await ws(operator)
    await request(boris, "chat:join", {"chat_id": support.id})
    await asyncio.sleep(1.5)  # past the timeout: only the heartbeats keep the entry
    anna = await ws(admin_user)
    await request(anna, "chat:join", {"chat_id": support.id})
    assert await viewer_events(anna, support.id) == [[operator.id, admin_user.id]]


async def test_a_lapsed_viewer_is_dropped_at_the_next_heartbeat(
    ws, support, operator, admin_user, settings
):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.3
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    boris = await ws(operator)
    await request(boris, "chat:join", {"chat_id": support.id})
    await frames(boris)
    # Anna's process had the chat open, told everyone, then died.
    await viewers.announce(
        organization_id=admin_user.organization_id,
        chat_id=support.id,
        user_id=admin_user.id,
        name="Anna",
        connection="dead!2",
        add=True,
    )
    assert (await viewer_events(boris, support.id))[:1] == [[operator.id, admin_user.id]]
    await asyncio.sleep(1.6)  # past the timeout: the next heartbeat notices
    assert [operator.id] in await viewer_events(boris, support.id, quiet=0.5)


async def test_heartbeats_alone_announce_nothing(ws, support, operator, admin_user, settings):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    boris = await ws(operator)
    anna = await ws(admin_user)
    await request(boris, "chat:join", {"chat_id": support.id})
    await request(anna, "chat:join", {"chat_id": support.id})
    await frames(boris)
    await asyncio.sleep(1)  # several heartbeats of both, in turn
    assert await viewer_events(boris, support.id) == []
