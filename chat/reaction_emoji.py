"""One spelling per emoji: reactions store and compare each emoji's fully-qualified form."""

import functools

import emoji as emoji_data

# U+FE0E (text style) and U+FE0F (emoji style) change how an emoji is drawn, never which one it is.
_VARIATION_SELECTORS = str.maketrans("", "", "\ufe0e\ufe0f")


@functools.cache
def _fully_qualified() -> dict[str, str]:
    """Each emoji without its selectors -> its fully-qualified form (no two share a bare form)."""
    full = emoji_data.STATUS["fully_qualified"]
    return {e.translate(_VARIATION_SELECTORS): e for e, data in emoji_data.EMOJI_DATA.items() if data["status"] == full}


def emoji_normalize(text: str) -> str | None:
    """The fully-qualified form of `text` when it is exactly one emoji (however its selectors are spelt), else None."""
    canonical = _fully_qualified().get(text.translate(_VARIATION_SELECTORS), text)
    return canonical if emoji_data.is_emoji(canonical) else None
