from django.urls import path

from chats import api, api_inboxes

urlpatterns = [
    path("chats", api.ChatListApi.as_view(), name="chat-list"),
    path("chats/my-chat", api.MyChatApi.as_view(), name="chat-my"),
    path("chats/<int:chat_id>", api.ChatDetailApi.as_view(), name="chat-detail"),
    path(
        "chats/<int:chat_id>/participants",
        api.ChatParticipantsApi.as_view(),
        name="chat-participants",
    ),
    path(
        "chats/<int:chat_id>/participants/<int:user_id>",
        api.ChatParticipantDetailApi.as_view(),
        name="chat-participant-detail",
    ),
    path("chats/<int:chat_id>/messages", api.ChatMessagesApi.as_view(), name="chat-messages"),
    path("chats/<int:chat_id>/read", api.ChatReadApi.as_view(), name="chat-read"),
    path("messages", api.LegacyMessageCreateApi.as_view(), name="message-create"),
    path("messages/search", api.MessageSearchApi.as_view(), name="message-search"),
    path("messages/<int:message_id>", api.MessageDetailApi.as_view(), name="message-detail"),
    path("unread/counts", api.UnreadCountsApi.as_view(), name="unread-counts"),
    path("inboxes", api_inboxes.InboxListApi.as_view(), name="inbox-list"),
    path("inboxes/<int:inbox_id>", api_inboxes.InboxDetailApi.as_view(), name="inbox-detail"),
]
