"""The bell's count on every page: one Redis round trip."""

from notifications.unread import unread_count


def bell(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"bell_count": unread_count(user.pk)}
