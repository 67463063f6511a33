"""Where a user's avatar is served: an authenticated route, not a public media URL."""

from __future__ import annotations

from django.urls import reverse

from accounts.models import User

AVATAR_MIMES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}


def avatar_url(user: User) -> str | None:
    """``/api/users/<id>/avatar?v=<file>``: the version changes with every new avatar, so the
    URL can be cached."""
    if not user.avatar:
        return None
    version = user.avatar.name.rpartition("/")[2].partition(".")[0][:32]
    return f"{reverse('user-avatar', args=[user.pk])}?v={version}"


def avatar_mime(user: User) -> str:
    return AVATAR_MIMES.get(user.avatar.name.rpartition(".")[2].lower(), "application/octet-stream")
