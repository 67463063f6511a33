from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaConfig(AppConfig):
    name = "media"
    label = "media"
    verbose_name = _("Media files")

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Any Pillow use in the process refuses decompression bombs at our limit.
        Image.MAX_IMAGE_PIXELS = settings.MEDIA_MAX_IMAGE_PIXELS

        from accounts.hooks import on_avatar_upload
        from media.services import avatar_image

        on_avatar_upload(avatar_image)
