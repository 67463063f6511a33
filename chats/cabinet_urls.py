from django.urls import path

from chats import views

urlpatterns = [
    path("chat/", views.chat_view, name="cabinet-chat"),
]
