from django.apps import AppConfig


class RedisToolkitConfig(AppConfig):
    """An app only so the toolkit can ship management commands, admin pages and its small models."""

    name = "redis_toolkit"
    label = "redis_toolkit"
    verbose_name = "Redis toolkit"
