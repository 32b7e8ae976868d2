from django.contrib import admin
from django.urls import include, path

from accounts.login import login_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", login_view, name="login"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("notifications.urls")),
    path("", include("chat.urls")),
]
