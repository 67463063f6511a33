from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", api.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", api.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/ws-ticket", api.WsTicketApi.as_view(), name="auth-ws-ticket"),
    path("auth/me", api.MeApi.as_view(), name="auth-me"),
    path("auth/verify", api.VerifyApi.as_view(), name="auth-verify"),
    path("users/search", api.UserSearchApi.as_view(), name="user-search"),
    path("users", api.UserListApi.as_view(), name="user-list"),
    path("users/<int:user_id>", api.UserDetailApi.as_view(), name="user-detail"),
    path("users/<int:user_id>/avatar", api.UserAvatarApi.as_view(), name="user-avatar"),
]
