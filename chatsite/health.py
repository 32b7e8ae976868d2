"""Operations endpoints: /healthz (alive), /readyz (database, Redis, stream lag), /metrics (Prometheus)."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from redis_toolkit.client import get_redis, redis_outage
from redis_toolkit.ratelimit.http import client_ip

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 1.0  # seconds a probe waits on Redis before calling it down


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: 200, touching nothing (a load balancer's liveness probe)."""
    return HttpResponse("ok\n", content_type="text/plain")


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    try:
        get_redis("health").ping()
    except (RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _stream_figures() -> tuple[int, int, int]:
    """(lag, pending, dead letters) summed over every stream and group."""
    from redis_toolkit.events.status import stream_status

    lag = pending = dead = 0
    for stream in stream_status():
        dead += stream.dead_letters
        for group in stream.groups:
            lag += group.lag or 0
            pending += group.pending
    return lag, pending, dead


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when this process can serve everything; 503 naming each part that is down."""
    checks: dict[str, dict] = {}
    error = _check_database()
    checks["database"] = {"ok": error is None} | ({"error": error} if error else {})
    error = _check_redis()
    checks["redis"] = {"ok": error is None} | ({"error": error} if error else {})
    if error is None:
        lag, pending, _dead = _stream_figures()
        ok = lag <= settings.READYZ_MAX_STREAM_LAG
        checks["streams"] = {"ok": ok, "lag": lag, "pending": pending, "max_lag": settings.READYZ_MAX_STREAM_LAG}
    down = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "down" if down else "ok", "down": down, "checks": checks}
    return JsonResponse(body, status=503 if down else 200)


def metrics_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(client_ip(request).split("/")[0])
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_IPS)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: this process's counters, and shared figures read at scrape time."""
    if not metrics_allowed(request):
        return HttpResponse(
            "Metrics are shown to staff and to addresses listed in METRICS_ALLOWED_IPS.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


class SharedFigures:
    """Figures every process reads from Redis and the database when scraped (not per-process counts)."""

    def describe(self):
        return []  # registering must not query anything (it would otherwise call collect())

    def collect(self):
        from redis_toolkit.events.outbox import outbox_backlog
        from redis_toolkit.ratelimit.core import rate_limit_hits

        try:
            backlog, _oldest = outbox_backlog()
            yield GaugeMetricFamily("chatsite_outbox_backlog", "Outbox events waiting for the relay", value=backlog)
        except DatabaseError as exc:
            logger.warning("metrics: outbox backlog unavailable: %s", exc)
        if redis_outage.recently_failed(CHECK_TIMEOUT):
            return  # nothing more to read until Redis answers; the error counters tell the story
        try:
            lag, pending, dead = _stream_figures()
            hits = rate_limit_hits()
        except (RedisError, OSError) as exc:
            logger.warning("metrics: Redis figures unavailable: %s", exc)
            return
        yield GaugeMetricFamily("chatsite_stream_lag", "Stream entries not yet delivered to their groups", value=lag)
        yield GaugeMetricFamily("chatsite_stream_pending", "Entries delivered, not acknowledged", value=pending)
        yield GaugeMetricFamily("chatsite_dead_letters", "Events given up on, in dead-letter streams", value=dead)
        refusals = GaugeMetricFamily(
            "chatsite_rate_limit_refusals_shared", "Refusals per rule, all processes", labels=["rule"]
        )
        for rule, count in sorted(hits.items()):
            refusals.add_metric([rule], count)
        yield refusals


REGISTRY.register(SharedFigures())


def live_status(request: HttpRequest) -> dict:
    """Context processor: `live_paused` while this process cannot reach Redis (the banner in base.html)."""
    return {"live_paused": redis_outage.down_since is not None}
