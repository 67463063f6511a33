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
