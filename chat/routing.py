"""WebSocket routes of the chat app."""

from django.urls import re_path

from chat.consumers import RoomConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<slug>[-\w]+)/$", RoomConsumer.as_asgi()),
]
