"""Extension points of the chats app. Apps that react to chat activity (connectors sending a
reply out to a channel, inbox automation answering a customer) register a callback in their
``AppConfig.ready()``; chats calls them without importing those apps, so the dependency points
one way only.

Callbacks run inside the transaction that stored the message, after its row and events exist:
whatever leaves the process (a Celery task, an HTTP call) must be deferred to commit
(``delay_on_commit``, ``transaction.on_commit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chats.models import Message

MessageCallback = Callable[["Message"], None]

_message_stored: list[MessageCallback] = []
# Callbacks that may post messages in answer (inbox automation): they run after all the
# others, so that every callback hears of a message before the answers to it.
_message_answered: list[MessageCallback] = []


def on_message_stored(callback: MessageCallback, *, answers: bool = False) -> MessageCallback:
    """Register ``callback(message)`` for every newly stored message (not for a retry that
    returned an existing one). ``answers=True`` for a callback that posts messages in reply.
    Usable as a decorator; registering twice is a no-op."""
    callbacks = _message_answered if answers else _message_stored
    if callback not in callbacks:
        callbacks.append(callback)
    return callback


def message_stored(message: Message) -> None:
    for callback in [*_message_stored, *_message_answered]:
        callback(message)
