from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.login import login_view
from chatsite import health

handler403 = "chatsite.error_pages.handler403"
handler404 = "chatsite.error_pages.handler404"
handler500 = "chatsite.error_pages.handler500"

urlpatterns = [
    # Browsers that ignore the <link rel="icon"> still ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
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
