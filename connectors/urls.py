from django.urls import path

from connectors import api, views

urlpatterns = [
    path("webhooks/<slug:kind>/<int:inbox_id>", views.webhook, name="webhook"),
    path("messages/<int:message_id>/retry", api.MessageRetryApi.as_view(), name="message-retry"),
]
