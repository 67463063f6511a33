from collections.abc import Iterable

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.tenancy import TenantAdmin
from media import services
from media.models import MediaFile, StorageState


def _download_url(media: MediaFile, *, thumbnail: bool = False) -> str:
    url = reverse("media-download", args=[media.pk])
    return f"{url}?thumbnail=1" if thumbnail else url


def attachments_html(files: Iterable[MediaFile]) -> SafeString | str:
    """A message's attachments for the back office: images as a thumbnail, other files as
    name and size; each links to the access-checked download."""
    items = []
    for media in files:
        if media.thumbnail:
            items.append(
                format_html(
                    '<a href="{}" title="{} ({})"><img src="{}" alt="{}" loading="lazy" '
                    'style="max-height:96px;max-width:160px;border-radius:4px"></a>',
                    _download_url(media),
                    media.original_name,
                    filesizeformat(media.size),
                    _download_url(media, thumbnail=True),
                    media.original_name,
                )
            )
        else:
            items.append(
                format_html(
                    '<a href="{}">{}</a> <span class="quiet">{}</span>',
                    _download_url(media),
                    media.original_name,
                    filesizeformat(media.size),
                )
            )
    if not items:
        return "—"
    return format_html_join("", '<div style="margin:0 0 4px">{}</div>', ((item,) for item in items))


@admin.register(MediaFile)
class MediaFileAdmin(TenantAdmin):
    """Uploaded files of the organization. Read-only: files only come in through the upload
    checks. Previews and downloads go through the access-checked download URL."""

    list_display = [
        "preview",
        "original_name",
        "kind",
        "mime",
        "size_display",
        "storage_state",
        "chat_link",
        "uploader",
        "created_at",
    ]
    list_display_links = ["original_name"]
    list_filter = ["kind", "storage_state", "created_at"]
    search_fields = ["original_name", "sha256"]
    list_select_related = ["chat", "uploader"]
    date_hierarchy = "created_at"
    actions = ["retry_remote_upload"]
    fields = [
        "large_preview",
        "original_name",
        "download_link",
        "kind",
        "mime",
        "size_display",
        "width",
        "height",
        "sha256",
        "storage_state",
        "storage_error",
        "chat_link",
        "uploader",
        "attached_at",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        """Nothing to save: every field is read-only (the change permission runs actions)."""

    @admin.display(description=_("Preview"))
    def preview(self, obj: MediaFile) -> str:
        if not obj.thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="" loading="lazy" style="max-height:48px;max-width:96px">',
            _download_url(obj, thumbnail=True),
        )

    @admin.display(description=_("Preview"))
    def large_preview(self, obj: MediaFile) -> str:
        if not obj.thumbnail:
            return "—"
        return format_html(
            '<a href="{}"><img src="{}" alt="" style="max-height:320px;max-width:320px"></a>',
            _download_url(obj),
            _download_url(obj, thumbnail=True),
        )

    @admin.display(description=_("File"))
    def download_link(self, obj: MediaFile) -> str:
        return format_html('<a href="{}">{}</a>', _download_url(obj), _("Download"))

    @admin.display(description=_("Size"), ordering="size")
    def size_display(self, obj: MediaFile) -> str:
        return filesizeformat(obj.size)

    @admin.display(description=_("Chat"), ordering="chat")
    def chat_link(self, obj: MediaFile) -> str:
        if obj.chat_id is None:
            return "—"
        try:
            url = reverse("admin:chats_chat_change", args=[obj.chat_id])
        except NoReverseMatch:  # the chat admin is not installed
            return str(obj.chat)
        return format_html('<a href="{}">{}</a>', url, obj.chat)

    @admin.action(description=_("Retry the upload to remote storage"), permissions=["change"])
    def retry_remote_upload(self, request, queryset) -> None:
        organization = None if request.user.is_superuser else request.user.organization
        count = services.media_remote_retry(
            organization=organization,
            media_ids=list(
                queryset.filter(storage_state=StorageState.FAILED).values_list("pk", flat=True)
            ),
        )
        self.message_user(
            request,
            ngettext(
                "%(count)s file queued for remote storage.",
                "%(count)s files queued for remote storage.",
                count,
            )
            % {"count": count},
            messages.INFO,
        )

    def delete_model(self, request, obj: MediaFile) -> None:
        services.media_delete(files=[obj])

    def delete_queryset(self, request, queryset) -> None:
        services.media_delete(files=list(queryset))
