"""Small models of the Redis toolkit: fencing marks, and the transactional outbox relayed to Redis Streams."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Fence(models.Model):
    """The newest fencing token a guarded resource has accepted; older lock holders are turned away."""

    resource = models.CharField(max_length=200, primary_key=True)
    last_token = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "fence"

    def __str__(self) -> str:
        return f"{self.resource} @ {self.last_token}"


class OutboxEvent(models.Model):
    """One event; `sent_at` is set once it is in its stream (the id travels with it as its idempotency key)."""

    type = models.CharField(max_length=100)
    stream = models.CharField(max_length=100)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's only query: the few unsent rows, in id order, without scanning sent ones.
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Stream(models.Model):
    """No table: gives the admin a "Streams" page (status of streams, groups and dead letters)."""

    class Meta:
        managed = False
        verbose_name = "stream"
        verbose_name_plural = "streams and dead letters"

    def __str__(self) -> str:
        return "streams"


class RateLimitRule(models.Model):
    """No table: gives the admin a "Rate limits" page (rules, refusals per rule, look-up and reset of a key)."""

    class Meta:
        managed = False
        verbose_name = "rate limit"
        verbose_name_plural = "rate limits"

    def __str__(self) -> str:
        return "rate limits"
