"""Account pages: sign up and the "Your sessions" page (Django's own views do the rest)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import SignupForm
from accounts.selectors import user_session_list
from accounts.services import user_session_revoke, user_session_revoke_others
from chatsite.errors import NotFound
from redis_toolkit.ratelimit.http import ratelimit_view


@ratelimit_view("auth.signup", key="ip", methods=("POST",))
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}!")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def session_list(request):
    sessions = user_session_list(user=request.user)
    return render(
        request,
        "accounts/sessions.html",
        {"sessions": sessions, "current_key": request.session.session_key},
    )


@login_required
@require_POST
@ratelimit_view("accounts.sessions", key="user")
def session_revoke(request, session_id: int):
    row = user_session_list(user=request.user).filter(pk=session_id).first()
    if row is None:
        raise NotFound("That session is not one of yours, or it has already ended.")
    if row.session_key == request.session.session_key:
        messages.error(request, "That is this browser; use “Log out” to end it.")
    else:
        user_session_revoke(user=request.user, session_key=row.session_key)
        messages.success(request, f"Signed out {row.browser}.")
    return redirect("accounts:sessions")


@login_required
@require_POST
@ratelimit_view("accounts.sessions", key="user")
def session_revoke_others(request):
    count = user_session_revoke_others(user=request.user, keep_session_key=request.session.session_key)
    messages.success(request, f"Signed out {count} other session{'s' if count != 1 else ''}.")
    return redirect("accounts:sessions")
