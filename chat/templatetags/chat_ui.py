"""Template helpers for people and times: initials avatars (the same colours as static/js/people.js)."""

from django import template
from django.utils.html import format_html

register = template.Library()


def avatar_hue(user_id: int | None) -> int:
    """A stable hue per user; 137° steps keep neighbouring ids far apart on the colour wheel."""
    return ((user_id or 0) * 137) % 360


def initials(username: str) -> str:
    parts = [p for p in username.replace("_", " ").replace(".", " ").replace("-", " ").split() if p]
    if len(parts) >= 2:
        return (parts[0][0] + parts[1][0]).upper()
    return (username[:2] or "?").upper()


@register.simple_tag
def avatar(user, size: str = ""):
    """`{% avatar user %}`: initials on the user's colour; decorative (the name is always next to it)."""
    classes = f"avatar {size}".strip()
    return format_html(
        '<span class="{}" style="--hue: {}" aria-hidden="true">{}</span>',
        classes,
        avatar_hue(user.pk),
        initials(user.username),
    )
