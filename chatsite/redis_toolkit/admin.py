"""Admin pages of the Redis toolkit: fencing marks, read-only (only lock holders may move them)."""

from django.contrib import admin

from chatsite.redis_toolkit.models import Fence


@admin.register(Fence)
class FenceAdmin(admin.ModelAdmin):
    list_display = ("resource", "last_token", "updated_at")
    search_fields = ("resource",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
