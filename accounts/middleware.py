"""Record each signed-in browser's session, refreshing "last seen" at most once a minute."""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from accounts.services import user_session_forget, user_session_record

TOUCH_EVERY_SECONDS = 60


def _needs_record(request) -> bool:
    user = getattr(request, "user", None)
    session = request.session
    if user is None or not user.is_authenticated or session.session_key is None:
        return False
    # The key changes on login and password change; the timestamp keeps "last seen" fresh.
    return (
        session.get("_tracked_key") != session.session_key
        or time.time() - session.get("_tracked_at", 0) > TOUCH_EVERY_SECONDS
    )


def _record(request) -> None:
    previous = request.session.get("_tracked_key")
    if previous and previous != request.session.session_key:
        user_session_forget(session_key=previous)  # the key was cycled (login, password change)
    user_session_record(request=request)
    request.session["_tracked_key"] = request.session.session_key
    request.session["_tracked_at"] = time.time()


class SessionTrackingMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        response = self.get_response(request)
        if _needs_record(request):
            _record(request)
        return response

    async def __acall__(self, request):
        response = await self.get_response(request)
        if await sync_to_async(_needs_record)(request):
            await sync_to_async(_record)(request)
        return response
