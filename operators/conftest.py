"""Fixtures of the operators app's tests."""

from __future__ import annotations

import pytest

from crm import events


@pytest.fixture
def captured():
    """Events as delivered (after commit): a list of ``(type, data, groups)``."""
    sent: list[tuple[str, dict, tuple[str, ...]]] = []
    stop = events.observe(lambda t, d, g: sent.append((t, d, g)))
    yield sent
    stop()
