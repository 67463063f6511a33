"""The project's URLs plus endpoints that fail on purpose (error handling tests)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from crm.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


class Boom(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("boom: postgres://user:hunter2@db.internal:5432/crm")


def plain_boom(request):
    raise RuntimeError("plain boom")


urlpatterns = [path("api/test-boom", Boom.as_view()), path("api/test-plain-boom", plain_boom)] + [
    *urlpatterns
]
