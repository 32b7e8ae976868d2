"""`manage.py replay_dead_letters`: put dead-lettered events back in their streams, for the group that failed."""

from django.core.management.base import BaseCommand, CommandError

from redis_toolkit.events.status import dead_letter_replay, known_streams


class Command(BaseCommand):
    help = (
        "Move dead letters back to their stream (each for the group that gave up on it, which handles it "
        "again with fresh retries). Fix the cause first. Without options every dead letter is replayed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stream", help="only this stream's dead letters")
        parser.add_argument("--group", help="only those this consumer group gave up on")
        parser.add_argument(
            "--id", action="append", dest="ids", metavar="ENTRY_ID", help="only this entry (repeatable)"
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would be replayed")

    def handle(self, *args, stream, group, ids, dry_run, **options):
        streams = known_streams()
        if stream is not None and stream not in streams:
            raise CommandError(f"--stream {stream}: no such stream; known streams: {', '.join(streams) or 'none'}")
        if ids and stream is None:
            raise CommandError("--id needs --stream: entry ids are per dead-letter stream")
        total = 0
        for name in [stream] if stream else streams:
            letters = dead_letter_replay(stream=name, entry_ids=ids, group=group, dry_run=dry_run)
            for letter in letters if dry_run else ():
                self.stdout.write(f"{name} {letter.entry_id} {letter.event_type} #{letter.event_id}: {letter.error}")
            if letters and not dry_run:
                self.stdout.write(f"{name}: replayed {len(letters)} dead letter(s)")
            total += len(letters)
        self.stdout.write(f"{'would replay' if dry_run else 'replayed'} {total} dead letter(s)")
