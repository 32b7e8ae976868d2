from django.urls import path

import chatsite.ids  # noqa: F401 - registers the <id:> converter (out-of-range ids are 404, not 500)
from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_page, name="list"),
    path("notifications/<id:notification_id>/read/", views.notification_read, name="read"),
    path("notifications/read-all/", views.notification_read_all, name="read-all"),
    path("api/notifications/", views.api_list, name="api-list"),
    path("api/notifications/read", views.api_mark_read, name="api-read"),
]
