"""Run one benchmark module of this package: `python -m bench <name> [args]`."""

import importlib
import os
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in available():
        print(f"usage: python -m bench <{'|'.join(available())}> [args]", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    return module.main(sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())
