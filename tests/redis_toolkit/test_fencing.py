"""Fencing tokens in the database: guarded writes from stale lock holders are rejected and rolled back."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.transaction import TransactionManagementError

from redis_toolkit.locks import LockError, StaleFencingToken, fence_advance, redis_lock
from redis_toolkit.models import Fence


def mark(resource: str) -> int | None:
    return Fence.objects.filter(resource=resource).values_list("last_token", flat=True).first()


@pytest.mark.django_db
def test_newer_tokens_advance_the_mark_and_the_same_lease_may_write_again():
    with transaction.atomic():
        fence_advance("relay", 5)
    with transaction.atomic():
        fence_advance("relay", 5)  # the same lease, a second batch
    with transaction.atomic():
        fence_advance("relay", 9)
    assert mark("relay") == 9


@pytest.mark.django_db
def test_stale_fencing_token_is_rejected():
    with transaction.atomic():
        fence_advance("relay", 9)
    with pytest.raises(StaleFencingToken, match="stale fencing token 8"), transaction.atomic():
        fence_advance("relay", 8)
    assert mark("relay") == 9
    assert issubclass(StaleFencingToken, LockError)


@pytest.mark.django_db
def test_resources_are_fenced_independently():
    with transaction.atomic():
        fence_advance("relay", 100)
        fence_advance("maintenance", 3)
    assert (mark("relay"), mark("maintenance")) == (100, 3)


@pytest.mark.django_db
def test_rejected_token_rolls_back_the_guarded_write(make_user):
    user = make_user("fenced", first_name="before")
    with transaction.atomic():
        fence_advance("profile", 2)

    def stale_write():
        with transaction.atomic():
            get_user_model().objects.filter(pk=user.pk).update(first_name="stale")
            fence_advance("profile", 1)

    with pytest.raises(StaleFencingToken):
        stale_write()
    user.refresh_from_db()
    assert user.first_name == "before"


@pytest.mark.django_db(transaction=True)
def test_fence_advance_outside_a_transaction_is_refused():
    with pytest.raises(TransactionManagementError, match=r"transaction\.atomic"):
        fence_advance("relay", 1)
    assert mark("relay") is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("resource", "token", "argument"),
    [("", 1, "resource"), ("x" * 201, 1, "resource"), ("r", 0, "token"), ("r", -3, "token"), ("r", True, "token")],
)
def test_bad_arguments_raise_value_error_naming_them(resource, token, argument):
    with pytest.raises(ValueError, match=argument), transaction.atomic():
        fence_advance(resource, token)


@pytest.mark.django_db(transaction=True)
def test_concurrent_holders_leave_the_highest_token_and_never_error():
    tokens = list(range(1, 9))
    barrier = threading.Barrier(len(tokens))
    outcomes: dict[int, str] = {}

    def advance(token: int) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                fence_advance("contended", token)
            outcomes[token] = "accepted"
        except StaleFencingToken:
            outcomes[token] = "stale"
        except Exception as exc:
            outcomes[token] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=advance, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(outcomes.values()) <= {"accepted", "stale"}, outcomes
    assert outcomes[max(tokens)] == "accepted"
    assert mark("contended") == max(tokens)


@pytest.mark.django_db
def test_lease_tokens_feed_the_fence(redis_client):
    with redis_lock("fencing-test-lock", ttl=5) as first, transaction.atomic():
        fence_advance("fed", first.fencing_token)
    with redis_lock("fencing-test-lock", ttl=5) as second, transaction.atomic():
        fence_advance("fed", second.fencing_token)
    with pytest.raises(StaleFencingToken), transaction.atomic():
        fence_advance("fed", first.fencing_token)
