"""Fixtures for the automation tests: the web inbox with its settings, and a frozen clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone


@pytest.fixture
def web_inbox(organization):
    from chats.selectors import web_inbox_for

    return web_inbox_for(organization=organization)


@pytest.fixture
def configure(web_inbox):
    """``configure(**fields)``: set automation fields on the web inbox."""

    def apply(**fields):
        for name, value in fields.items():
            setattr(web_inbox, name, value)
        web_inbox.save()
        return web_inbox

    return apply


@pytest.fixture
def clock(monkeypatch):
    """``clock("2026-03-30 09:30", "Europe/Berlin")``: ``timezone.now()`` is that wall-clock
    time in that zone from then on (what the automation reads)."""

    def freeze(wall: str, zone: str = "UTC") -> datetime:
        at = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone))
        monkeypatch.setattr(timezone, "now", lambda: at)
        return at

    return freeze
