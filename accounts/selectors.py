"""Reads for accounts."""

from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import UserSession


def user_session_list(*, user) -> QuerySet[UserSession]:
    """The user's sessions that are still alive, most recently seen first."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return UserSession.objects.filter(user=user, session_key__in=alive)
