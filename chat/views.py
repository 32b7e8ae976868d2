"""Chat pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from chat.selectors import room_list_for_user


@login_required
def home(request):
    return render(request, "chat/room_list.html", {"rooms": room_list_for_user(user=request.user)})
