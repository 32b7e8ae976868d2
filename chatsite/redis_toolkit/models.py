"""Small models of the Redis toolkit: the fencing marks that guarded resources keep in the database."""

from django.db import models


class Fence(models.Model):
    """The newest fencing token a guarded resource has accepted; older lock holders are turned away."""

    resource = models.CharField(max_length=200, primary_key=True)
    last_token = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "fence"

    def __str__(self) -> str:
        return f"{self.resource} @ {self.last_token}"
