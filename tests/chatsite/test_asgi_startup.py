"""The ASGI module as a server process loads it."""

import subprocess
import sys

from django.conf import settings


def test_a_loaded_server_keeps_its_startup_objects_out_of_garbage_collection():
    # A full collection over Django's long-lived objects stopped the event loop for 100+ ms (the fan-out
    # bench's p99); the module freezes them once loaded. Measured in a fresh interpreter, as a server starts.
    probe = "import gc, chatsite.asgi; print(gc.get_freeze_count())"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    assert int(result.stdout.strip().splitlines()[-1]) > 100_000
