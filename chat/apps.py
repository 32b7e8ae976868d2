from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _repair_search_index(using: str, **kwargs) -> None:
    from django.db import connections

    from chat.search import search_index_repair

    search_index_repair(connections[using])


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # A later migration that rebuilds chat_message on SQLite drops the FTS5 triggers; put them back.
        post_migrate.connect(_repair_search_index, sender=self, dispatch_uid="chat.repair_search_index")
        from chat import uploads  # noqa: F401 - connects the signal that deletes stored files with their rows
