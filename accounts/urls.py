from django.urls import path

import chatsite.ids  # noqa: F401 - registers the <id:> converter (out-of-range ids are 404, not 500)
from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/<id:session_id>/revoke/", views.session_revoke, name="session-revoke"),
    path("sessions/revoke-others/", views.session_revoke_others, name="session-revoke-others"),
]
