"""Reads of media files, always through what the viewer may see."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from chats.models import Chat, Message
from chats.selectors import chats_visible_to, visible_messages_q
from crm.errors import NotFound
from crm.tenancy import scoped
from media import error_codes
from media.models import MediaFile


def attachable_media(*, uploader: User, chat: Chat, ids: list[int]) -> list[MediaFile]:
    """The uploader's own files of the chat's organization that no message uses yet and that
    were not uploaded for another chat."""
    files = MediaFile.objects.filter(
        Q(chat__isnull=True) | Q(chat=chat),
        pk__in=ids,
        uploader=uploader,
        organization_id=chat.organization_id,
        attached_at__isnull=True,
        messages__isnull=True,
    )
    return list(files)


def media_readable_by(user: User) -> QuerySet[MediaFile]:
    """Files ``user`` may see: their own uploads, and files attached to a message they can see
    (a message that is not deleted, in a chat they can read; notes only for staff). A file
    uploaded for a chat but not posted yet is its uploader's only. The platform owner
    (superuser) sees every organization's files, as in the admin."""
    if user.is_superuser:
        return MediaFile.objects.all()
    files = scoped(MediaFile.objects.all(), user.organization_id)
    shown_in = (
        Message.objects.filter(
            attachments=OuterRef("pk"),
            deleted_at__isnull=True,
            chat__in=chats_visible_to(user),
        )
        .filter(visible_messages_q(user))
        .values("pk")
    )
    return files.filter(Q(uploader=user) | Exists(shown_in))


def media_for(*, user: User, media_id: int | str) -> MediaFile:
    """A file ``user`` may read, or NotFound (also for another organization's file)."""
    try:
        return media_readable_by(user).get(pk=int(media_id))
    except (MediaFile.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("File not found."), code=error_codes.MEDIA_NOT_FOUND) from None
