"""What we know about each signed-in browser, for the "Your sessions" page."""

from django.conf import settings
from django.db import models


class UserSession(models.Model):
    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="browser_sessions")
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.user} on {self.browser}"

    @property
    def browser(self) -> str:
        from user_agents import parse

        if not self.user_agent:
            return "Unknown browser"
        agent = parse(self.user_agent)
        return f"{agent.browser.family} on {agent.os.family}".replace("Other on Other", "Unknown browser")


class UsernameSkeleton(models.Model):
    """The look-alike key of each username (accounts.usernames), so sign-up can refuse a confusable new name."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="username_skeleton"
    )
    # Not unique: accounts that existed before the check may already look alike; new ones cannot.
    skeleton = models.CharField(max_length=600, db_index=True)

    def __str__(self) -> str:
        return self.skeleton
