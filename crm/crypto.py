"""Encryption of secrets at rest (inbox bot tokens, app secrets, webhook secrets).

``FIELD_ENCRYPTION_KEY`` holds one key or a comma-separated list: the first encrypts, every one
decrypts, so a key is rotated by putting the new one first, running
``manage.py inbox_secrets_rotate`` and then dropping the old one. A key is either a Fernet key
(32 url-safe base64 bytes) or any passphrase, which is stretched into one with SHA-256; without
the setting the key is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

TOKEN_PREFIX = "gAAAAA"  # noqa: S105 -- every Fernet token starts with its version byte and timestamp


def _fernet_key(raw: str) -> bytes:
    raw = raw.strip()
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) == 32:
            return raw.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


def _raw_keys() -> tuple[str, ...]:
    configured = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or ""
    keys = tuple(k for k in (part.strip() for part in configured.split(",")) if k)
    return keys or (f"field-encryption:{settings.SECRET_KEY}",)


@cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def cipher() -> MultiFernet:
    return _cipher(_raw_keys())


def encrypt(value: str) -> str:
    return cipher().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """Raises ``InvalidToken`` when no configured key opens ``token``."""
    return cipher().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret, encrypted with the first (newest) key."""
    return cipher().rotate(token.encode()).decode()


def digest(value: str) -> str:
    """A keyed, deterministic fingerprint of a secret: lets a webhook find which inbox a secret
    belongs to without storing it in the clear. Derived from the first key."""
    key = hashlib.sha256(b"digest:" + _fernet_key(_raw_keys()[0])).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


__all__ = ["InvalidToken", "decrypt", "digest", "encrypt", "rotate"]
