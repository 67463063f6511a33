"""What clients see of a media file (API responses and message events alike)."""

from __future__ import annotations

from media.models import MediaFile


def media_data(media: MediaFile) -> dict:
    url = f"/api/media/{media.pk}/download"
    return {
        "id": media.pk,
        "url": url,
        "kind": media.kind,
        "mime": media.mime,
        "size": media.size,
        "name": media.original_name,
        "width": media.width,
        "height": media.height,
        "thumbnail_url": f"{url}?thumbnail=1" if media.thumbnail else None,
        "storage_state": media.storage_state,
    }


def media_detail_data(media: MediaFile) -> dict:
    """``GET /api/media/{id}``: the wire shape plus where the file belongs and its checksum."""
    return {
        **media_data(media),
        "chat_id": media.chat_id,
        "uploader_id": media.uploader_id,
        "sha256": media.sha256,
        "attached": media.attached_at is not None,
        "created_at": media.created_at,
    }
