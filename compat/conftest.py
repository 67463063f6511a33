"""Fixtures of the compat tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_media_root(settings, tmp_path):
    """Each test stores its files in a directory of its own."""
    settings.MEDIA_PRIVATE_ROOT = str(tmp_path / "private-media")
    return tmp_path / "private-media"


@pytest.fixture
def support(customer):
    """The customer's support chat in the web inbox, with one message from the customer."""
    from chats.services import message_send, support_chat_get_or_create

    chat, _ = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="Where is my sofa?")
    return chat


@pytest.fixture
def other_support(other_customer):
    """A support chat of another organization."""
    from chats.services import message_send, support_chat_get_or_create

    chat, _ = support_chat_get_or_create(customer=other_customer)
    message_send(sender=other_customer, chat=chat, text="Hello from Globex")
    return chat
