"""ASGI app of the Channels tutorial (https://channels.readthedocs.io/en/latest/tutorial/part_3.html).

Started by `python -m bench fanout` (and `bench chat --peer tutorial`); no auth, no database, JSON
decoded per message and re-encoded per member, one group_send per message. The layer is channels-redis'
Pub/Sub layer (one PUBLISH per group_send), or with CHANNEL_LAYER=core the tutorial's RedisChannelLayer
(lists + Lua per group member).
"""

import json
import os

import django
from django.conf import settings

if not settings.configured:
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    PREFIX = os.environ.get("BENCH_TUTORIAL_PREFIX", "chatsite-bench-tutorial")  # one per bench run
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # redis-py 8 defaults to a 5 s socket timeout, which breaks the layer's 5 s BZPOPMIN.
                    "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                    "prefix": PREFIX,
                },
            }
            if os.environ.get("CHANNEL_LAYER") == "core"
            else {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL], "prefix": PREFIX},
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_group_name = f"chat_{self.scope['url_route']['kwargs']['room_name']}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"ws/chat/(?P<room_name>\w+)/$", ChatConsumer.as_asgi())])}
)
