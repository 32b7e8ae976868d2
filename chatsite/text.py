"""User-written text: invisible direction controls removed before storing; text that shows nothing refused."""

from __future__ import annotations

import re
import unicodedata

# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the marks U+200E, U+200F and
# U+061C, and invisible characters that hide what a name is (zero-width space, word joiner, BOM).
# Pages isolate user text with dir="auto"/<bdi> as well; removing these keeps one name from
# reversing or hiding the text around it in places no template controls (notifications, e-mails, logs).
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060\ufeff]")


def strip_bidi_controls(text: str) -> str:
    return _INVISIBLE.sub("", text)


# Letters that draw nothing (Hangul fillers, Khmer inherent vowels, the braille blank) besides what
# Unicode classes as format, control or space characters.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u034f")
_BLANK_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def _blank(char: str) -> bool:
    code = ord(char)
    return (
        char in _BLANK_LETTERS
        or unicodedata.category(char) in _BLANK_CATEGORIES
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
    )


def has_visible_text(text: str) -> bool:
    """Whether `text` shows anything: not only spaces, zero-width or format characters and blank fillers.

    Required text (a message, a name) made only of these would pass `str.strip()` yet look empty.
    """
    return any(not _blank(char) for char in text)
