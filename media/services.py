"""Writes of media files."""

from __future__ import annotations

from chats.models import Chat
from media.models import MediaFile


def media_attach(*, files: list[MediaFile], chat: Chat) -> None:
    """Files posted in a chat belong to it from then on (download access follows the chat)."""
    MediaFile.objects.filter(pk__in=[f.pk for f in files], chat__isnull=True).update(chat=chat)
