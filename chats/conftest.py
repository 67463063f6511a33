"""Fixtures for the chats tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def support(customer):
    """The customer's support chat in the web inbox."""
    from chats.services import support_chat_get_or_create

    chat, _ = support_chat_get_or_create(customer=customer)
    return chat


@pytest.fixture
def team(operator, admin_user):
    """A group chat of ``operator`` and ``admin_user``."""
    from chats.services import chat_group_create

    return chat_group_create(actor=operator, name="Team", participant_ids=[admin_user.pk])
