"""Reads of media files."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import User
from chats.models import Chat
from media.models import MediaFile


def attachable_media(*, uploader: User, chat: Chat, ids: list[int]) -> list[MediaFile]:
    """The uploader's own files of the chat's organization that no message uses yet and that
    were not uploaded for another chat."""
    files = MediaFile.objects.filter(
        Q(chat__isnull=True) | Q(chat=chat),
        pk__in=ids,
        uploader=uploader,
        organization_id=chat.organization_id,
        messages__isnull=True,
    )
    return list(files)
