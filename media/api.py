"""Media API: upload, metadata, access-checked download."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.selectors import chat_for
from crm.errors import NotFound, RateLimited
from crm.query import ID_MAX
from media import error_codes, errors, selectors, services, uploads
from media.models import MediaFile, MediaKind, StorageState
from media.payloads import media_data, media_detail_data
from media.storage import local_storage, remote_enabled, signed_url


class MediaOutput(serializers.Serializer):
    """The wire shape of a file (``media.payloads.media_data``), for the schema."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    kind = serializers.ChoiceField(choices=MediaKind.choices)
    mime = serializers.CharField()
    size = serializers.IntegerField()
    name = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    thumbnail_url = serializers.CharField(allow_null=True)
    storage_state = serializers.ChoiceField(choices=StorageState.choices)


class MediaDetailOutput(MediaOutput):
    chat_id = serializers.IntegerField(allow_null=True)
    uploader_id = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    attached = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class _UploadApi(APIView):
    """Bodies are streamed to temporary files by a handler that stops at the size limit; a
    declared Content-Length over the limit is refused before the body is read at all."""

    parser_classes = [MultiPartParser]
    max_files = 1

    def initialize_request(self, request, *args, **kwargs):
        uploads.use_limited_upload_handlers(request)  # before anything parses the body
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        length = uploads.content_length(request._request)
        if length is not None and length > uploads.body_limit(files=self.max_files):
            raise errors.too_large()
        super().initial(request, *args, **kwargs)
        decision = services.uploads_allowed(uploader=request.user)
        if not decision.allowed:
            raise RateLimited(
                _("You are uploading files too fast."),
                code=error_codes.UPLOADS_THROTTLED,
                retry_after=decision.retry_after,
            )

    def parsed(self, request: Request, serializer_class) -> dict:
        data = request.data  # parses the body
        if uploads.upload_was_cut_off(request._request):
            raise errors.too_large()
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def chat_of(self, request: Request, chat_id: int | None):
        return None if chat_id is None else chat_for(request.user, chat_id)


class MediaUploadApi(_UploadApi):
    class Input(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True, use_url=False)
        chat_id = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=ID_MAX
        )

    @extend_schema(request={"multipart/form-data": Input}, responses={201: MediaOutput})
    def post(self, request: Request) -> Response:
        data = self.parsed(request, self.Input)
        [media] = services.media_upload(
            uploader=request.user,
            files=[data["file"]],
            chat=self.chat_of(request, data.get("chat_id")),
        )
        return Response(media_data(media), status=status.HTTP_201_CREATED)


class MediaUploadManyApi(_UploadApi):
    max_files = 10

    class Input(serializers.Serializer):
        files = serializers.ListField(
            child=serializers.FileField(allow_empty_file=True, use_url=False),
            min_length=1,
            max_length=10,
        )
        chat_id = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=ID_MAX
        )

    @extend_schema(
        request={"multipart/form-data": Input},
        responses={201: inline_serializer("MediaUploads", {"results": MediaOutput(many=True)})},
    )
    def post(self, request: Request) -> Response:
        data = self.parsed(request, self.Input)
        stored = services.media_upload(
            uploader=request.user,
            files=data["files"],
            chat=self.chat_of(request, data.get("chat_id")),
        )
        return Response(
            {"results": [media_data(m) for m in stored]}, status=status.HTTP_201_CREATED
        )


class MediaDetailApi(APIView):
    @extend_schema(responses=MediaDetailOutput)
    def get(self, request: Request, media_id: int) -> Response:
        media = selectors.media_for(user=request.user, media_id=media_id)
        return Response(media_detail_data(media))


class _AnyAccept(BaseContentNegotiation):
    """Downloads answer with the file whatever the client accepts; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# Nothing a browser renders from here may run script or load anything: every response carries
# a sandboxing policy. Only images are shown inline; everything else, PDFs included (they can
# carry JavaScript, and browsers' PDF viewers refuse to run inside a sandbox), is a download.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


class MediaDownloadApi(APIView):
    content_negotiation_class = _AnyAccept
    thumbnail = False

    @extend_schema(
        parameters=[OpenApiParameter("thumbnail", OpenApiTypes.BOOL, required=False)],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="Redirect to a short-lived signed URL"),
        },
    )
    def get(self, request: Request, media_id: int) -> HttpResponse:
        media = selectors.media_for(user=request.user, media_id=media_id)
        thumbnail = self.thumbnail or request.query_params.get("thumbnail") in ("1", "true")
        return file_response(media, thumbnail=thumbnail)


class MediaThumbnailApi(MediaDownloadApi):
    thumbnail = True


def file_response(media: MediaFile, *, thumbnail: bool) -> HttpResponse:
    """The file (or its thumbnail): streamed from the local store while it is there, else a
    redirect to a signed URL of the remote copy."""
    if thumbnail:
        if not media.thumbnail:
            raise NotFound(_("This file has no thumbnail."), code=error_codes.NO_THUMBNAIL)
        key, mime = media.thumbnail.name, services.thumbnail_mime(media)
        stem = media.original_name.rpartition(".")[0] or media.original_name
        filename = f"{stem}.thumbnail.{key.rpartition('.')[2]}"
    else:
        key, mime, filename = media.file.name, media.mime, media.original_name
    inline = thumbnail or media.kind == MediaKind.IMAGE
    if media.held_locally:
        try:
            return _local_response(key, mime=mime, filename=filename, inline=inline)
        except FileNotFoundError:
            # Moved to the remote store between reading the row and opening the file.
            media.refresh_from_db(fields=["storage_state"])
            if media.held_locally:
                raise NotFound(
                    _("The file's content is missing."), code=error_codes.MEDIA_MISSING
                ) from None
    if not remote_enabled():
        raise errors.StorageUnavailable()
    url = signed_url(
        key, mime=mime, disposition=content_disposition_header(not inline, filename) or ""
    )
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"
    return response


def _local_response(key: str, *, mime: str, filename: str, inline: bool) -> FileResponse:
    handle = local_storage().open(key, "rb")
    response = FileResponse(handle, content_type=mime, as_attachment=not inline, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    return response
