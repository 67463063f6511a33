from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="cabinet-home"),
    path("login/", views.login_view, name="cabinet-login"),
    path("register/", views.register_view, name="cabinet-register"),
    path("logout/", views.logout_view, name="cabinet-logout"),
    path("profile/", views.profile_view, name="cabinet-profile"),
    path("language/", views.language_set, name="language-set"),
]
