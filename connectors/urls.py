from django.urls import path

from connectors import api, views

urlpatterns = [
    path("webhooks/<slug:kind>/<int:inbox_id>", views.webhook, name="webhook"),
    path(
        "webhooks/api/<int:inbox_id>/files/<str:token>",
        views.api_channel_file,
        name="api-channel-file",
    ),
    path("messages/<int:message_id>/retry", api.MessageRetryApi.as_view(), name="message-retry"),
    path("chats/<int:chat_id>/template", api.ChatTemplateApi.as_view(), name="chat-template"),
]
