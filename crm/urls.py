from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crm import health

admin.site.site_header = "Connector CRM back office"
admin.site.site_title = "Connector CRM"
admin.site.index_title = "Back office"

api_patterns = [
    path("", include("accounts.urls")),
    path("", include("chats.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
]

handler400 = "crm.errors.json_or_html_400"
handler403 = "crm.errors.json_or_html_403"
handler404 = "crm.errors.json_or_html_404"
handler500 = "crm.errors.json_or_html_500"
