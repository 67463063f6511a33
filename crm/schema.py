from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers


class LanguageJWTScheme(SimpleJWTScheme):
    """simplejwt's bearer scheme for our subclass (it only adds the user's language)."""

    target_class = "crm.i18n.JWTAuthentication"


class ErrorOutput(serializers.Serializer):
    """Every API error (``crm.errors``); validation errors add a per-field map beside these."""

    detail = serializers.CharField()
    code = serializers.CharField()
    retry_after = serializers.IntegerField(required=False, min_value=0, help_text="With 429.")


# Answers any operation may give, besides the ones it documents itself.
ERROR_STATUSES = {
    "400": "Invalid input",
    "401": "Not signed in, or the token is invalid",
    "403": "Not allowed",
    "404": "Not found (also another organization's object)",
    "405": "Method not allowed",
    "413": "Request body too large",
    "429": "Too many requests",
}


class AutoSchema(BaseAutoSchema):
    """Names components after the view that owns a nested serializer: ``LoginApi.Input`` becomes
    ``LoginApiInput``, so the house pattern of an ``Input`` class per view stays unambiguous.
    Every operation also documents the error shape for the error statuses."""

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction=direction)
        if not self.path.startswith("/api/") or direction != "response":
            return bodies
        for code, description in ERROR_STATUSES.items():
            if code not in bodies:
                body = self._get_response_for_code(ErrorOutput, code, direction=direction)
                body["description"] = description
                bodies[code] = body
        return bodies
