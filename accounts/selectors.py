"""Reads for accounts."""

from django.contrib.sessions.models import Session
from django.db.models import Max, QuerySet
from django.utils import timezone

from accounts.models import UserSession


def user_session_list(*, user) -> QuerySet[UserSession]:
    """The user's sessions that are still alive, most recently seen first."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return UserSession.objects.filter(user=user, session_key__in=alive)


def user_last_seen(*, user):
    """When the user last used chatsite in any browser (their sessions' newest "last seen"), or None."""
    latest = UserSession.objects.filter(user=user).aggregate(at=Max("last_seen"))["at"]
    return latest or user.last_login
