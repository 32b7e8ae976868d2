"""`manage.py create_room <slug> [--title T] [--private] [--member USERNAME ...]`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.services import room_create
from chatsite.errors import UserError


class Command(BaseCommand):
    help = "Create a chat room. Public rooms are open to every signed-in user; private ones to members."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL name of the room, e.g. team-lunch (letters, digits, - and _)")
        parser.add_argument("--title", default="", help="Display name (default: from the slug)")
        parser.add_argument("--topic", default="", help="One-line topic shown under the title")
        parser.add_argument("--private", action="store_true", help="Members only")
        parser.add_argument("--member", action="append", default=[], metavar="USERNAME", help="Add a member (repeat)")

    def handle(self, *args, slug, title, topic, private, member, **options):
        User = get_user_model()
        users = list(User.objects.filter(username__in=member))
        missing = sorted(set(member) - {u.username for u in users})
        if missing:
            raise CommandError(f"No such user: {', '.join(missing)}. Nothing was created.")
        try:
            room = room_create(slug=slug, title=title, topic=topic, private=private, members=users)
        except UserError as exc:
            raise CommandError(exc.detail) from None
        kind = "private" if private else "public"
        names = ", ".join(u.username for u in users) or "nobody yet"
        self.stdout.write(
            self.style.SUCCESS(f"Created {kind} room “{room.title}” at /rooms/{room.slug}/ (members: {names}).")
        )
