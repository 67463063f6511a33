from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crm import health, metrics
from crm.errors import api_not_found

admin.site.site_header = "Connector CRM back office"
admin.site.site_title = "Connector CRM"
admin.site.index_title = "Back office"

api_patterns = [
    path("", include("compat.urls")),  # first: it shares one path with chats, by method
    path("", include("accounts.urls")),
    path("", include("chats.urls")),
    path("", include("operators.urls")),
    path("", include("orders.urls")),
    path("", include("media.urls")),
    path("", include("connectors.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^(?P<path>.*)$", api_not_found),  # last: JSON 404 even with DEBUG
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/", include(api_patterns)),
    path("admin/", include("workspace.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.cabinet_urls")),
    path("", include("orders.cabinet_urls")),
    path("", include("chats.cabinet_urls")),
]

handler400 = "crm.errors.json_or_html_400"
handler403 = "crm.errors.json_or_html_403"
handler404 = "crm.errors.json_or_html_404"
handler500 = "crm.errors.json_or_html_500"
