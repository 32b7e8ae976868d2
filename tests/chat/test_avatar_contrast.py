"""Initials avatars: white initials on every user's colour meet WCAG AA (4.5:1), whatever the user id."""

import colorsys
import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


def _luminance(rgb: tuple[float, float, float]) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_white_initials_are_readable_on_the_avatar_colour_of_every_hue():
    rule = re.search(
        r"\.avatar \{[^}]*background: hsl\(var\(--hue, \d+\) (\d+)% (\d+)%\)[^}]*color: #fff", CSS.read_text()
    )
    assert rule, "the .avatar rule's background is no longer hsl(var(--hue) S% L%) under white text"
    saturation, lightness = int(rule[1]) / 100, int(rule[2]) / 100
    worst = min(
        (1.05 / (_luminance(colorsys.hls_to_rgb(hue / 360, lightness, saturation)) + 0.05), hue) for hue in range(360)
    )
    assert worst[0] >= 4.5, f"white on hue {worst[1]} has contrast {worst[0]:.2f}:1"
