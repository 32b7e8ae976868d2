"""Keep UserSession rows in step with Django's logout."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from accounts.services import user_session_forget


@receiver(user_logged_out)
def forget_on_logout(sender, request, user, **kwargs):
    if request is not None and request.session.session_key:
        user_session_forget(session_key=request.session.session_key)
