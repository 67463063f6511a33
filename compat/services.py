"""Writes that a seed's path does in one request where our API takes two."""

from __future__ import annotations

from django.core.files import File

from accounts.models import User
from chats.models import Chat, MessageKind
from chats.services import SendResult, message_send
from media.models import MediaKind
from media.services import media_delete, media_upload

MESSAGE_KIND_OF_MEDIA = {
    MediaKind.IMAGE: MessageKind.IMAGE,
    MediaKind.VIDEO: MessageKind.VIDEO,
    MediaKind.AUDIO: MessageKind.AUDIO,
    MediaKind.DOCUMENT: MessageKind.FILE,
}


def media_upload_and_send(
    *, sender: User, chat: Chat, file: File, text: str = "", client_id: str | None = None
) -> SendResult:
    """``POST /api/media/send``: upload a file for ``chat`` (which the caller has checked the
    sender may read), then send it as a message of its kind (an image as ``image``, a document
    as ``file``...) — ``POST /api/media`` followed by ``POST /api/chats/{id}/messages``, with
    the same checks and limits. When the send is refused, or a retry with the same
    ``client_id`` finds the first message, the new upload is deleted again."""
    [media] = media_upload(uploader=sender, files=[file], chat=chat)
    try:
        result = message_send(
            sender=sender,
            chat=chat,
            text=text,
            kind=MESSAGE_KIND_OF_MEDIA.get(media.kind, MessageKind.FILE),
            attachment_ids=[media.pk],
            client_id=client_id,
        )
    except BaseException:
        media_delete(files=[media])
        raise
    if not result.created:
        media_delete(files=[media])
    return result
