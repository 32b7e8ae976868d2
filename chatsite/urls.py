from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from chatsite import health
from redis_toolkit.ratelimit_http import ratelimit_view

# Every login attempt (POST) counts, per client IP and per username tried: brute-force protection.
login_view = ratelimit_view("auth.login", key=("ip", "post:username"), methods=("POST",))(LoginView.as_view())

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("accounts/login/", login_view, name="login"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("notifications.urls")),
    path("", include("chat.urls")),
]
