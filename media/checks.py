"""Checks an upload must pass before it is stored: size, type by content, markup, pixels.

Works on a file on disk (the upload's temporary file, or a copy spooled there) so that nothing is
held in memory and libmagic and Pillow read the real bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _

from crm.errors import ValidationFailed
from media import filetypes, images
from media.errors import too_large

_CHUNK = 1024 * 1024


@dataclass
class CheckedUpload:
    """An upload that passed every check, ready to be stored."""

    content: File
    path: str
    file_type: filetypes.FileType
    name: str
    size: int
    sha256: str
    image: images.ImageInfo | None


@contextlib.contextmanager
def on_disk(content: File) -> Iterator[str]:
    """A path to the content: the upload's own temporary file, or a copy spooled to disk."""
    temporary_path = getattr(content, "temporary_file_path", None)
    if temporary_path is not None:
        yield temporary_path()
        return
    with tempfile.NamedTemporaryFile(prefix="crm-media-", suffix=".upload") as copy:
        content.seek(0)
        shutil.copyfileobj(content, copy, _CHUNK)
        copy.flush()
        yield copy.name


def _digest_and_markup(path: str, *, scan: str) -> tuple[str, bool]:
    """sha256 of the file, and whether HTML/script markup was found where ``scan`` says
    ("all", "head" or "none")."""
    digest = hashlib.sha256()
    found = False
    tail = b""
    first = True
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if scan == "all" and not found:
                found = filetypes.has_markup(tail + chunk)
                tail = chunk[-filetypes.MARKUP_OVERLAP :]
            elif scan == "head" and first:
                found = filetypes.has_markup(chunk[: filetypes.SNIFF_WINDOW])
            first = False
    return digest.hexdigest(), found


def _refuse(code: str, detail: str, *, name: str, index: int | None) -> ValidationFailed:
    field = [detail] if index is None else {str(index): [detail]}
    key = "file" if index is None else "files"
    return ValidationFailed(detail, code=code, fields={key: field}, name=name)


def check_upload(content: File, *, client_name: str, path: str, index: int | None) -> CheckedUpload:
    size = os.path.getsize(path)
    cleaned = filetypes.clean_name(client_name)
    if size > settings.MAX_UPLOAD_SIZE:
        raise too_large(size)
    if size == 0:
        raise _refuse("empty_file", _("The file is empty."), name=cleaned, index=index)
    try:
        file_type = filetypes.classify(path, name=cleaned)
    except filetypes.Refused as refused:
        raise _refuse(refused.code, refused.detail, name=cleaned, index=index) from None
    if filetypes.is_text(file_type):
        scan = "none"
    elif filetypes.scan_whole_file(file_type):
        scan = "all"
    else:
        scan = "head"
    sha256, markup = _digest_and_markup(path, scan=scan)
    if markup:
        raise _refuse(
            "markup_in_file",
            _(
                "The file is %(label)s (%(mime)s) but also contains HTML or script markup; "
                "such files are refused."
            )
            % {"label": file_type.label, "mime": file_type.mime},
            name=cleaned,
            index=index,
        )
    image = None
    if file_type.kind == "image":
        try:
            image = images.inspect_image(path, mime=file_type.mime)
        except images.ImageRefused as refused:
            raise _refuse(refused.code, refused.detail, name=cleaned, index=index) from None
    return CheckedUpload(
        content=content,
        path=path,
        file_type=file_type,
        name=filetypes.display_name(cleaned, file_type=file_type),
        size=size,
        sha256=sha256,
        image=image,
    )
