"""Usernames people cannot mistake for each other: Unicode TR39 skeletons from confusable_homoglyphs' data.

Two names with the same skeleton look alike (Cyrillic "аlice" and Latin "alice", "rn" and "m", "0"
and "O"); a new name whose skeleton an existing user already has is refused at sign-up. The mapping is
Unicode's confusables.txt as the confusable_homoglyphs package ships it (used by django-registration);
only the choice of one prototype per group of look-alikes is made here.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from confusable_homoglyphs.confusables import confusables_data

from chatsite.text import strip_bidi_controls


@lru_cache(maxsize=4096)
def _prototype(char: str) -> str:
    entries = confusables_data.get(char)
    if not entries or len(entries) > 1:
        return char  # not confusable, or the prototype many characters are mapped to
    target = entries[0]["c"]
    back = confusables_data.get(target)
    if back is not None and len(back) == 1 and back[0]["c"] == char:
        return min(char, target)  # a pair that only looks like each other: one stable choice
    return strip_bidi_controls(target)


def _skeleton(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(_prototype(char) for char in decomposed))


def username_skeleton(username: str) -> str:
    """The TR39 skeleton of a username, also blind to case (so "Alice" and "alice" are one name too)."""
    text = unicodedata.normalize("NFKC", strip_bidi_controls(username))
    return _skeleton(_skeleton(text).casefold())
