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
    assert int(result.stdout.strip().splitlines()[-1]) > 50_000  # 0 when nothing is frozen


def _fresh(probe: str, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", probe, *argv], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_uvicorn_process_does_not_load_twisted():
    # daphne's app imports Twisted and its reactor (about 26 MB per process here); only runserver needs it.
    probe = "import sys, uvicorn.server, chatsite.asgi; print('twisted' in sys.modules)"
    assert _fresh(probe) == "False"


def test_runserver_still_gets_daphnes_websocket_runserver():
    probe = "import sys, django; django.setup(); from django.apps import apps; print(apps.is_installed('daphne'))"
    assert _fresh(probe, "runserver") == "True"
