"""Keep UserSession rows in step with Django's logout, and close the sockets of every session that ends."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import UsernameSkeleton
from accounts.services import user_session_forget
from accounts.usernames import username_skeleton
from chatsite.realtime import push_to_session_on_commit, recheck_account_on_commit


@receiver(user_logged_out)
def forget_on_logout(sender, request, user, **kwargs):
    if request is not None and request.session.session_key:
        user_session_forget(session_key=request.session.session_key)
        # The session is flushed right after this signal: its open sockets close (4401) now, on every process.
        push_to_session_on_commit(request.session.session_key, {"type": "session.revoked"})


@receiver(post_save, sender=get_user_model())
def recheck_sockets_on_user_change(sender, instance, created=False, update_fields=None, **kwargs):
    """A password change, deactivation or any other change of the user: each open socket checks its session.

    A socket stays open only while its session would still sign the user in over HTTP (same auth hash,
    active account), so sessions that a password change ends lose their sockets at once.
    """
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login saves last_login; nothing about existing sessions changed
    if not created:  # a new user has no sockets yet
        recheck_account_on_commit(instance.pk)
    if update_fields is None or "username" in update_fields:
        UsernameSkeleton.objects.update_or_create(
            user=instance, defaults={"skeleton": username_skeleton(instance.username)}
        )


@receiver(post_delete, sender=get_user_model())
def close_sockets_on_user_delete(sender, instance, **kwargs):
    recheck_account_on_commit(instance.pk)
