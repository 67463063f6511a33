"""The seeds' REST paths (SPEC 6a), each an alias of one of our operations."""

from django.urls import path

from chats.api import ChatReadApi
from compat import api
from compat.routing import by_method

urlpatterns = [
    path("auth/profile", api.ProfileAlias.as_view(), name="seed-auth-profile"),
    path("users/me", api.UsersMeAlias.as_view(), name="seed-users-me"),
    # Our POST /api/chats/{id}/read shares the path: other methods go on to it.
    path(
        "chats/<int:chat_id>/read",
        by_method(PUT=api.ChatReadAlias.as_view(), otherwise=ChatReadApi.as_view()),
        name="seed-chat-read",
    ),
    path(
        "messages/chat/<int:chat_id>", api.MessagesOfChatAlias.as_view(), name="seed-messages-chat"
    ),
    path(
        "messages/chat/<int:chat_id>/read",
        api.MessagesChatReadAlias.as_view(),
        name="seed-messages-chat-read",
    ),
    path("upload", api.UploadAlias.as_view(), name="seed-upload"),
    path("upload/multiple", api.UploadManyAlias.as_view(), name="seed-upload-multiple"),
    path("files/upload", api.FilesUploadAlias.as_view(), name="seed-files-upload"),
    path(
        "files/uploads/<int:media_id>", api.FileDownloadAlias.as_view(), name="seed-files-uploads"
    ),
    path("media/upload", api.MediaUploadAlias.as_view(), name="seed-media-upload"),
    path("media/send", api.MediaSendAlias.as_view(), name="seed-media-send"),
    path(
        "chat/conversations", api.ChatConversationsAlias.as_view(), name="seed-chat-conversations"
    ),
    path("chat/messages/<int:chat_id>", api.ChatMessagesAlias.as_view(), name="seed-chat-messages"),
    path("chat/send", api.ChatSendAlias.as_view(), name="seed-chat-send"),
    path("chat/mark-read", api.ChatMarkReadAlias.as_view(), name="seed-chat-mark-read"),
    path("chat/project", api.ChatProjectAlias.as_view(), name="seed-chat-project"),
    path("chat/direct", api.ChatDirectAlias.as_view(), name="seed-chat-direct"),
    path("chat/direct/create", api.DirectCreateAlias.as_view(), name="seed-chat-direct-create"),
    path(
        "chat-assignment/<int:chat_id>/assign",
        api.AssignAlias.as_view(),
        name="seed-chat-assignment-assign",
    ),
    path(
        "chat-assignment/<int:chat_id>/unassign",
        api.UnassignAlias.as_view(),
        name="seed-chat-assignment-unassign",
    ),
    path(
        "chat-assignment/assigned",
        api.AssignedChatsAlias.as_view(),
        name="seed-chat-assignment-assigned",
    ),
    path(
        "chat-assignment/unassigned",
        api.UnassignedChatsAlias.as_view(),
        name="seed-chat-assignment-unassigned",
    ),
    path(
        "chat-assignment/<int:chat_id>/close",
        api.AssignmentCloseAlias.as_view(),
        name="seed-chat-assignment-close",
    ),
    path(
        "unread/<int:chat_id>/mark-read",
        api.UnreadMarkReadAlias.as_view(),
        name="seed-unread-mark-read",
    ),
    path(
        "unread/<int:chat_id>/mark-chat-read",
        api.UnreadMarkChatReadAlias.as_view(),
        name="seed-unread-mark-chat-read",
    ),
    path("unread/chats", api.UnreadChatsAlias.as_view(), name="seed-unread-chats"),
    path(
        "ai/suggestions/<int:chat_id>", api.SuggestionsAlias.as_view(), name="seed-ai-suggestions"
    ),
    path(
        "orders/<int:chat_id>/<int:order_index>/status",
        api.OrderStatusAlias.as_view(),
        name="seed-order-status",
    ),
    path(
        "orders/<int:chat_id>/<int:order_index>",
        api.OrderDeleteAlias.as_view(),
        name="seed-order-delete",
    ),
]
