"""Model fields of the chats app."""

from __future__ import annotations

from django.db import models

from crm import crypto


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database (``crm.crypto``), plain in Python. The empty string
    stays empty so "is it set" needs no key. Never filter on it: each write gives a new token."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value or ""
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return crypto.encrypt(value)
