# Reactions stored before emoji were normalised (chat/reaction_emoji.py) may spell one emoji several ways
# ("❤" and "❤️"), which counted as different reactions. Each becomes the fully-qualified spelling.

from django.db import migrations


def merge_spellings(apps, schema_editor):
    """Rename each stray spelling; where the user already has the emoji under another spelling, keep one row.

    Rows are merged, not just renamed, because of the (message, user, emoji) unique constraint; the kept row
    takes the earliest time, so the order in which emoji were first used on a message stays as it was.
    """
    from chat.reaction_emoji import emoji_normalize

    Reaction = apps.get_model("chat", "Reaction")
    renames = {}
    for emoji in Reaction.objects.order_by().values_list("emoji", flat=True).distinct():
        canonical = emoji_normalize(emoji)
        if canonical is not None and canonical != emoji:
            renames[emoji] = canonical
    stray = list(
        Reaction.objects.filter(emoji__in=list(renames))
        .order_by("created_at", "pk")
        .values_list("pk", "message_id", "user_id", "emoji", "created_at")
    )
    for pk, message_id, user_id, emoji, created_at in stray:
        canonical = renames[emoji]
        kept = Reaction.objects.filter(message_id=message_id, user_id=user_id, emoji=canonical).first()
        if kept is None:
            Reaction.objects.filter(pk=pk).update(emoji=canonical)
            continue
        if created_at < kept.created_at:
            Reaction.objects.filter(pk=kept.pk).update(created_at=created_at)
        Reaction.objects.filter(pk=pk).delete()


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_search_uploads")]

    operations = [migrations.RunPython(merge_spellings, migrations.RunPython.noop, elidable=True)]
