from django.urls import path

from operators import api

urlpatterns = [
    path("chats/<int:chat_id>/assign", api.ChatAssignApi.as_view(), name="chat-assign"),
    path("chats/<int:chat_id>/unassign", api.ChatUnassignApi.as_view(), name="chat-unassign"),
    path("chats/<int:chat_id>/take", api.ChatTakeApi.as_view(), name="chat-take"),
    path("chats/<int:chat_id>/close", api.ChatCloseApi.as_view(), name="chat-close"),
    path("chats/<int:chat_id>/reopen", api.ChatReopenApi.as_view(), name="chat-reopen"),
    path("chats/<int:chat_id>/suggestions", api.SuggestionsApi.as_view(), name="chat-suggestions"),
    path("operators", api.OperatorListApi.as_view(), name="operator-list"),
    path("operators/me", api.OperatorMeApi.as_view(), name="operator-me"),
    path("operators/<int:user_id>", api.OperatorDetailApi.as_view(), name="operator-detail"),
    path("canned-responses", api.CannedResponseListApi.as_view(), name="canned-response-list"),
    path(
        "canned-responses/<int:response_id>",
        api.CannedResponseDetailApi.as_view(),
        name="canned-response-detail",
    ),
    path("ai/health", api.AiHealthApi.as_view(), name="ai-health"),
    path("stats", api.StatsApi.as_view(), name="stats"),
]
