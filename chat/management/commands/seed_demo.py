"""Create demo users and rooms for local development (refuses to run with DEBUG off)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.models import Room
from chat.services import room_create

DEMO_USERS = {"alice": "alice-demo-pass", "bob": "bob-demo-pass"}
DEMO_ROOMS = {"general": "General", "random": "Random"}


class Command(BaseCommand):
    help = "Create two demo users and a couple of public rooms (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo only runs with DEBUG=1; it creates users with well-known passwords.")
        User = get_user_model()
        for username, password in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.save()
        creator = User.objects.get(username="alice")
        for slug, title in DEMO_ROOMS.items():
            if not Room.objects.filter(slug=slug).exists():
                room_create(slug=slug, title=title, created_by=creator)
        self.stdout.write("Demo users (DEBUG only): " + ", ".join(f"{u} / {p}" for u, p in DEMO_USERS.items()))
