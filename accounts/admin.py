from django.contrib import admin

from accounts.models import UserSession


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "browser", "ip", "created_at", "last_seen")
    list_filter = ("last_seen",)
    search_fields = ("user__username", "ip", "user_agent")
    readonly_fields = ("session_key", "user", "user_agent", "ip", "created_at", "last_seen")
