"""Prometheus counters this process keeps (one place, so every module counts the same way)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

MESSAGES_POSTED = Counter("chatsite_messages_posted", "Chat messages stored (new, not retried sends)")
FRAMES_DELIVERED = Counter("chatsite_frames_delivered", "Frames sent to WebSockets by this process")
SOCKETS_OPEN = Gauge("chatsite_sockets_open", "WebSockets open in this process")
RATE_LIMIT_REFUSALS = Counter("chatsite_rate_limit_refusals", "Socket frames refused by a rate limit", ["rule"])
REDIS_ERRORS = Counter("chatsite_redis_errors", "Redis calls that failed in this process", ["client"])
SLOW_CLIENTS_CLOSED = Counter("chatsite_slow_clients_closed", "Sockets closed with 1013 for falling behind")
RESYNC_NUDGES = Counter("chatsite_resync_nudges", "Resync nudges sent to sockets after a Redis outage")
GAP_FILLS = Counter("chatsite_gap_fills", "Database reads filling a gap in the message frames a room socket heard")
