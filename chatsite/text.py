"""User-written names and titles: invisible direction controls removed before they are stored."""

from __future__ import annotations

import re

# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the marks U+200E, U+200F and
# U+061C, and invisible characters that hide what a name is (zero-width space, word joiner, BOM).
# Pages isolate user text with dir="auto"/<bdi> as well; removing these keeps one name from
# reversing or hiding the text around it in places no template controls (notifications, e-mails, logs).
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060\ufeff]")


def strip_bidi_controls(text: str) -> str:
    return _INVISIBLE.sub("", text)
