"""JSON request bodies, parsed with bounds: orjson refuses nesting deeper than 1,024 levels.

The standard library's parser recurses once per level and fails with a RecursionError (a 500)
on ``[`` × 100,000; orjson stops with a JSONDecodeError, which answers 400.
"""

from __future__ import annotations

import orjson
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def loads(raw: bytes | str):
    """Parse JSON, bounded in depth; raises ``ValueError`` (orjson's JSONDecodeError)."""
    return orjson.loads(raw)


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            if encoding.lower().replace("-", "") != "utf8":
                raw = raw.decode(encoding)
            return loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(
                _("The body is not valid JSON: %(reason)s") % {"reason": _reason(exc)}
            ) from None


def _reason(exc: Exception) -> str:
    return str(exc).split(":", 1)[0]
