"""Notifications: mentions, DMs, invitations, broadcasts; delivered live."""
