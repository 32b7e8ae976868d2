"""A lock holder in a process of its own for test_locks: holds, waits for "go", then writes and releases."""

import json
import sys

import django

if __name__ == "__main__":
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from redis_toolkit.locks import LockError, fence_advance, redis_lock

    name, username = sys.argv[1], sys.argv[2]
    lease = redis_lock(name, ttl=1, watchdog=True).__enter__()  # held past any block, released below
    print("held", lease.fencing_token, flush=True)
    sys.stdin.readline()  # "go": sent after this process was paused past its TTL and resumed
    outcome = {}
    try:
        with transaction.atomic():
            fence_advance(f"lock-test:{name}", lease.fencing_token)
            get_user_model().objects.filter(username=username).update(first_name="stale holder")
        outcome["write"] = "accepted"
    except LockError as exc:
        outcome["write"] = type(exc).__name__
    try:
        lease.release()
        outcome["release"] = "released"
    except LockError as exc:
        outcome["release"] = type(exc).__name__
    outcome["lost"] = lease.lost
    print(json.dumps(outcome), flush=True)
