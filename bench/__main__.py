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
    # Benchmarks write throwaway data: a database and a Redis key prefix of their own.
    var = Path(__file__).resolve().parent.parent / "var"
    var.mkdir(exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var / 'bench.sqlite3'}")
    os.environ.setdefault("REDIS_KEY_PREFIX", "chatsite-bench:")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    return module.main(sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())
