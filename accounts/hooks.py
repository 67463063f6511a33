"""Extension points of the accounts app. The media app registers how an avatar upload is
checked and resized (in its ``AppConfig.ready()``), so accounts never imports media and the
dependency points one way only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from accounts import error_codes
from crm.errors import DomainError

if TYPE_CHECKING:
    from accounts.models import User

# ``prepare(user=, content=)`` → (image bytes, file extension); raises a DomainError.
AvatarPreparer = Callable[..., tuple[bytes, str]]

_avatar_preparer: list[AvatarPreparer] = []


def on_avatar_upload(preparer: AvatarPreparer) -> AvatarPreparer:
    _avatar_preparer[:] = [preparer]
    return preparer


def avatar_prepare(*, user: User, content: Any) -> tuple[bytes, str]:
    if not _avatar_preparer:
        raise DomainError(
            _("Avatars cannot be uploaded here."), code=error_codes.AVATARS_UNAVAILABLE
        )
    return _avatar_preparer[0](user=user, content=content)
