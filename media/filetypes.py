"""What an uploaded file is, judged by its bytes (libmagic), and whether we accept it.

Policy:
- The type comes from the content only (libmagic, which also recognises HTML and SVG), never
  from the client's name or Content-Type header. Only the allow-list below is accepted.
- HTML, SVG, XML and executables are refused with their own message; anything else off the list
  is refused as unsupported.
- The name's extension must fit the sniffed type (a PDF called ``photo.png`` is refused). A name
  without an extension gets the type's usual one.
- Polyglots: an image must contain no HTML/script markup anywhere in its bytes (a GIF header
  followed by a script, a PNG with an HTML page appended); any other binary type must have none
  in its first KiB, where browsers look when they sniff. Text files are accepted as plain text
  whatever they say, because they are only ever served as ``text/plain`` attachments.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass

import magic
from django.utils.translation import gettext as _

from media.models import MediaKind


@dataclass(frozen=True)
class FileType:
    mime: str
    kind: str
    extensions: tuple[str, ...]  # the first one is the canonical extension
    label: str


def _types(kind: str, label: str, rows: list[tuple[str, tuple[str, ...]]]) -> list[FileType]:
    return [FileType(mime, kind, exts, label) for mime, exts in rows]


_OOXML_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_OOXML_EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_OOXML_POWERPOINT = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_ODF_TEXT = "application/vnd.oasis.opendocument.text"
_ODF_SPREADSHEET = "application/vnd.oasis.opendocument.spreadsheet"
_ODF_PRESENTATION = "application/vnd.oasis.opendocument.presentation"

ACCEPTED: dict[str, FileType] = {
    t.mime: t
    for t in [
        *_types(
            MediaKind.IMAGE,
            "an image",
            [
                ("image/png", ("png",)),
                ("image/jpeg", ("jpg", "jpeg", "jpe", "jfif")),
                ("image/gif", ("gif",)),
                ("image/webp", ("webp",)),
            ],
        ),
        *_types(
            MediaKind.VIDEO,
            "a video",
            [
                ("video/mp4", ("mp4", "m4v")),
                ("video/webm", ("webm",)),
                ("video/quicktime", ("mov", "qt")),
                ("video/ogg", ("ogv",)),
                ("video/3gpp", ("3gp",)),
            ],
        ),
        *_types(
            MediaKind.AUDIO,
            "an audio file",
            [
                ("audio/mpeg", ("mp3",)),
                ("audio/ogg", ("ogg", "oga", "opus")),
                ("audio/x-wav", ("wav",)),
                ("audio/wav", ("wav",)),
                ("audio/x-m4a", ("m4a",)),
                ("audio/mp4", ("m4a",)),
                ("audio/aac", ("aac",)),
                ("audio/x-hx-aac-adts", ("aac",)),
                ("audio/flac", ("flac",)),
                ("audio/x-flac", ("flac",)),
                ("audio/amr", ("amr",)),
                ("audio/webm", ("weba", "webm")),
            ],
        ),
        *_types(MediaKind.DOCUMENT, "a PDF document", [("application/pdf", ("pdf",))]),
        *_types(
            MediaKind.DOCUMENT,
            "an Office document",
            [
                (_OOXML_WORD, ("docx",)),
                (_OOXML_EXCEL, ("xlsx",)),
                (_OOXML_POWERPOINT, ("pptx",)),
                ("application/msword", ("doc",)),
                ("application/vnd.ms-excel", ("xls",)),
                ("application/vnd.ms-powerpoint", ("ppt",)),
            ],
        ),
        *_types(
            MediaKind.DOCUMENT,
            "an OpenDocument file",
            [
                (_ODF_TEXT, ("odt",)),
                (_ODF_SPREADSHEET, ("ods",)),
                (_ODF_PRESENTATION, ("odp",)),
            ],
        ),
        *_types(
            MediaKind.DOCUMENT,
            "a text file",
            [
                ("text/plain", ("txt", "text", "log", "md", "csv", "tsv")),
                ("text/csv", ("csv", "txt", "tsv")),
            ],
        ),
        *_types(MediaKind.DOCUMENT, "a ZIP archive", [("application/zip", ("zip",))]),
    ]
}

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SVG_TYPES = frozenset({"image/svg+xml"})
MARKUP_TYPES = frozenset({"text/xml", "application/xml"})
EXECUTABLE_TYPES = frozenset(
    {
        "application/x-executable",
        "application/x-pie-executable",
        "application/x-sharedlib",
        "application/x-object",
        "application/x-coredump",
        "application/x-elf",
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-mach-binary",
        "application/x-msi",
        "application/x-ms-installer",
        "application/java-archive",
        "application/x-java-applet",
        "application/vnd.android.package-archive",
        "text/x-shellscript",
        "text/x-msdos-batch",
    }
)
# Text subtypes libmagic guesses for ordinary text ("text/x-c", "text/x-Algol68"...) are plain
# text to us; these are not.
_TEXT_REFUSED = HTML_TYPES | SVG_TYPES | MARKUP_TYPES | EXECUTABLE_TYPES

ACCEPTED_SUMMARY = (
    "images (PNG, JPEG, GIF, WebP), video (MP4, WebM, MOV), audio (MP3, OGG, WAV, M4A, AAC, "
    "FLAC), PDF, Word/Excel/PowerPoint, OpenDocument, text and CSV, ZIP"
)

# Markup that makes a browser (or anything that sniffs) treat bytes as a web page or script.
_MARKUP_RE = re.compile(
    rb"<\s*(?:script|html|body|head|iframe|frame|svg|object|embed|meta|link|img|style|form"
    rb"|base|a\s+href|!doctype\s+html|\?xml-stylesheet)\b|javascript:",
    re.IGNORECASE,
)
MARKUP_OVERLAP = 64  # bytes carried between chunks so a marker split by a chunk edge is found
SNIFF_WINDOW = 1024


class Refused(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


_magic = magic.Magic(mime=True)


def sniff(path: str) -> str:
    """libmagic's MIME type of the file at ``path`` (lower case, without parameters)."""
    raw = _magic.from_file(path)
    # libmagic may append remarks: "application/x-executable, no program header".
    return raw.split(";")[0].split(",")[0].strip().lower()


def _zip_office_type(path: str) -> str | None:
    """OOXML/ODF packages that libmagic reported as a plain ZIP (their parts in another order
    than Office writes them): recognised by the parts every such document must have."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if declared in (_ODF_TEXT, _ODF_SPREADSHEET, _ODF_PRESENTATION):
                    return declared
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return _OOXML_WORD
    if "xl/workbook.xml" in names:
        return _OOXML_EXCEL
    if "ppt/presentation.xml" in names:
        return _OOXML_POWERPOINT
    return None


def extension_of(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and ext else ""


def classify(path: str, *, name: str) -> FileType:
    """The accepted type of the file at ``path`` named ``name`` by the client, or ``Refused``."""
    mime = sniff(path)
    ext = extension_of(name)
    if mime == "application/zip":
        mime = _zip_office_type(path) or mime
    if mime in HTML_TYPES:
        raise Refused("html_not_allowed", _("HTML files are not accepted."))
    if mime in SVG_TYPES:
        raise Refused("svg_not_allowed", _("SVG images are not accepted: they can carry scripts."))
    if mime in EXECUTABLE_TYPES:
        raise Refused("executable_not_allowed", _("Programs and scripts are not accepted."))
    if mime in MARKUP_TYPES:
        raise Refused("markup_not_allowed", _("XML files are not accepted."))
    if mime.startswith("text/") and mime not in ACCEPTED and mime not in _TEXT_REFUSED:
        mime = "text/plain"
    if mime == "text/plain" and ext in ("csv", "tsv"):
        mime = "text/csv"
    file_type = ACCEPTED.get(mime)
    if file_type is None:
        raise Refused(
            "unsupported_type",
            _("Files of type %(value)s are not accepted. Accepted: %(ACCEPTED_SUMMARY)s.")
            % {"value": mime or "unknown", "ACCEPTED_SUMMARY": ACCEPTED_SUMMARY},
        )
    if ext and ext not in file_type.extensions:
        raise Refused(
            "type_mismatch",
            _("The file's content is %(label)s (%(mime)s) but its name ends in .%(ext)s.")
            % {"label": file_type.label, "mime": mime, "ext": ext},
        )
    return file_type


def scan_whole_file(file_type: FileType) -> bool:
    """Images are scanned end to end for markup; other binary types only at the head."""
    return file_type.kind == MediaKind.IMAGE


def has_markup(data: bytes) -> bool:
    return _MARKUP_RE.search(data) is not None


def is_text(file_type: FileType) -> bool:
    return file_type.mime.startswith("text/")


# --- Names ----------------------------------------------------------------------------------

MAX_NAME_LENGTH = 150
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\\/]')
_SPACES = re.compile(r"\s+")


def clean_name(raw: str | None) -> str:
    """The client's file name made safe to keep and to show in Content-Disposition: no path,
    no control or invisible format characters (NUL, CR/LF, right-to-left override), no
    characters that Windows or shells treat specially, no leading or trailing dots."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_CHARS.sub("_", name)
    return _SPACES.sub(" ", name).strip(" .")


def display_name(name: str, *, file_type: FileType) -> str:
    """``name`` (already cleaned) at most ``MAX_NAME_LENGTH`` characters long, ending in an
    extension that fits the content."""
    ext = extension_of(name)
    if ext:
        stem = name[: -(len(ext) + 1)]
    else:
        stem, ext = name, file_type.extensions[0]
    stem = stem.rstrip(" .")[: MAX_NAME_LENGTH - len(ext) - 1].rstrip(" .") or "file"
    return f"{stem}.{ext}"
