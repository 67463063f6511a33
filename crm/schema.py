from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    """Names components after the view that owns a nested serializer: ``LoginApi.Input`` becomes
    ``LoginApiInput``, so the house pattern of an ``Input`` class per view stays unambiguous."""

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)
