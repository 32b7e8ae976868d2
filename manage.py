#!/usr/bin/env python
"""Django's command-line utility for chatsite."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from chatsite.env import ConfigError

    try:
        settings.INSTALLED_APPS  # noqa: B018 - load settings now, so a bad value stops here
    except ConfigError as exc:
        sys.exit(f"chatsite: configuration error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
