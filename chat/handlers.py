"""Worker-side chat maintenance (run_workers imports every app's handlers module)."""

from chat import frames, presence
from chat.models import Room
from chatsite.realtime import broadcast_to_room
from redis_toolkit.events.periodic import periodic_task


@periodic_task("chat.presence_sweep", every=20)
def sweep_presence() -> None:
    """Tell rooms about users whose server process died (their presence entries expired)."""
    changed = presence.presence_sweep()
    slugs = dict(Room.objects.filter(pk__in=changed).values_list("pk", "slug"))
    for room_id, online in changed.items():
        if room_id in slugs:
            broadcast_to_room(room_id, frames.presence(room_slug=slugs[room_id], online=online))
