"""Django settings for chatsite, read once from the environment (README has the table)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from chatsite.env import (
    ConfigError,
    env_bool,
    env_database,
    env_dir,
    env_host_ports,
    env_int,
    env_list,
    env_networks,
    env_redis_url,
    env_redis_urls,
    env_str,
    rate_limits_from_env,
)
from redis_toolkit.client import default_retry

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_dir("VAR_DIR", str(BASE_DIR / "var"))

# --------------------------------------------------------------------------- core
DEBUG = env_bool("DEBUG", False)

_secret = env_str("SECRET_KEY")
if not _secret:
    if not DEBUG:
        raise ConfigError(
            "SECRET_KEY is not set; production needs a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=1 for local development."
        )
    _secret = "django-insecure-dev-only-key-never-use-in-production"
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ConfigError(
        "ALLOWED_HOSTS is empty; with DEBUG off list the host names this site answers to, e.g. chat.example.com."
    )

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ConfigError(
            f"CSRF_TRUSTED_ORIGINS has {_origin!r}; each origin needs its scheme, e.g. https://chat.example.com."
        )

# daphne's app exists to make `manage.py runserver` serve WebSockets; it imports Twisted and its reactor
# into the process that loads it. Only runserver gets it: uvicorn servers, workers and commands do not.
_RUNSERVER = sys.argv[1:2] == ["runserver"]

INSTALLED_APPS = [
    *(["daphne"] if _RUNSERVER else []),
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "redis_toolkit",
    "accounts",
    "chat",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chatsite.client_input.RefuseNulMiddleware",  # its 400 page shows who is signed in, like every page
    "accounts.middleware.SessionTrackingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "chatsite.error_pages.UserErrorPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.bell",
                "chatsite.health.live_status",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

# ---------------------------------------------------------------- uploads (files)
# Attachments go through Django's storage API; nothing under MEDIA_ROOT is ever served directly
# (every download is a view that checks the reader may read the room), so there is no MEDIA_URL route.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)  # one file
UPLOAD_QUOTA_BYTES = env_int("UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024, minimum=1024)  # all of one user's files
if UPLOAD_QUOTA_BYTES < UPLOAD_MAX_BYTES:
    raise ConfigError(
        f"UPLOAD_QUOTA_BYTES={UPLOAD_QUOTA_BYTES} is below UPLOAD_MAX_BYTES={UPLOAD_MAX_BYTES}; "
        "nobody could upload a file of the largest size allowed."
    )
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads spool to a temporary file, not RAM
# "storages.backends.s3.S3Storage" for S3-compatible storage (docs/operations.md#files).
MEDIA_STORAGE_BACKEND = env_str("MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if MEDIA_STORAGE_BACKEND.startswith("storages."):
    # django-storages reads these settings; credentials come from boto3's own AWS_* environment variables.
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL")
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME")
    AWS_DEFAULT_ACL = None  # private objects: downloads go through the permission-checking view
    AWS_QUERYSTRING_AUTH = True
    if not AWS_STORAGE_BUCKET_NAME:
        raise ConfigError(f"MEDIA_STORAGE_BACKEND={MEDIA_STORAGE_BACKEND} needs AWS_STORAGE_BUCKET_NAME.")

# ----------------------------------------------------------------------- database
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so server processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
    # WAL: readers never wait for the writer, and a commit is one fsync-free append (synchronous=NORMAL).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # One test database per test run, so two runs on one server (two checkouts, CI beside a session) never
    # drop each other's; server processes started by tests are given its name (tests/conftest.py).
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

# Threads that write chat messages, off Channels' one shared database thread (chat/posting.py). SQLite has
# one writer at a time: more threads would only wait for each other's lock.
POSTING_THREADS = env_int("POSTING_THREADS", 1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 4, minimum=1)

# Threads (each with its own connection) for the database work of socket handshakes (chatsite.socket_db).
SOCKET_DB_THREADS = env_int("SOCKET_DB_THREADS", 4, minimum=1)

# -------------------------------------------------------------------------- redis
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
# Sentinel instead of REDIS_URL for every Redis use: REDIS_SENTINELS=h1:26379,h2:26379,h3:26379.
REDIS_SENTINELS = env_host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "mymaster")
# The channel layer may be sharded over several Redis servers (groups are hashed to one of them).
REDIS_CHANNEL_URLS = env_redis_urls("REDIS_CHANNEL_URLS", [REDIS_URL])
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "chatsite:")
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 2, minimum=1)
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 100, minimum=2)
# Sessions are on every request's path: give up on Redis quickly and read the database instead.
SESSION_REDIS_TIMEOUT = 0.5


def _cache(purpose: str, *, ignore_errors: bool, timeout: float = REDIS_SOCKET_TIMEOUT, retry=None) -> dict:
    options = {
        "SOCKET_CONNECT_TIMEOUT": timeout,
        "SOCKET_TIMEOUT": timeout,
        "IGNORE_EXCEPTIONS": ignore_errors,
        "CONNECTION_POOL_KWARGS": {
            "max_connections": REDIS_MAX_CONNECTIONS,
            "health_check_interval": 30,
            "retry": retry or default_retry(),
        },
    }
    location = REDIS_URL
    if REDIS_SENTINELS:
        location = f"redis://{REDIS_SENTINEL_MASTER}/0"
        options |= {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
            "SENTINELS": REDIS_SENTINELS,
            "SENTINEL_KWARGS": {"socket_timeout": timeout},
        }
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "KEY_PREFIX": f"{REDIS_KEY_PREFIX}{purpose}",
        "OPTIONS": options,
    }


CACHES = {
    # The page/data cache may swallow Redis errors: a miss is always safe.
    "default": _cache("cache", ignore_errors=True),
    # Sessions never swallow errors here; accounts.session_store falls back to the database itself.
    # One quick retry: enough to replace a pooled connection Redis dropped when it restarted.
    "sessions": _cache(
        "sess",
        ignore_errors=False,
        timeout=SESSION_REDIS_TIMEOUT,
        retry=Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.1), 1, supported_errors=(RedisConnectionError,)),
    ),
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True


def _channel_host(url: str) -> dict:
    # Each pool retries connection errors with backoff, so the first frame after Redis returns goes
    # out; health checks find Pub/Sub connections that died silently.
    options = {
        "retry": default_retry(asyncio_client=True),
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "health_check_interval": 15,
    }
    if REDIS_SENTINELS:
        return {
            "master_name": REDIS_SENTINEL_MASTER,
            "sentinels": REDIS_SENTINELS,
            "sentinel_kwargs": {"socket_timeout": REDIS_SOCKET_TIMEOUT},
            **options,
        }
    return {"address": url, **options}


CHANNEL_LAYERS = {
    "default": {
        # Pub/Sub: a group_send is one PUBLISH, whatever the number of members. chatsite.layer keeps
        # sockets open through Redis outages and resyncs them afterwards.
        "BACKEND": "chatsite.layer.ResilientPubSubChannelLayer",
        "CONFIG": {
            "hosts": [_channel_host(url) for url in ([REDIS_URL] if REDIS_SENTINELS else REDIS_CHANNEL_URLS)],
            "prefix": f"{REDIS_KEY_PREFIX}chan",
        },
    },
}

# ------------------------------------------------------------------- operations
# Addresses (or networks, CIDR) allowed to read /metrics besides signed-in staff.
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS", ["127.0.0.1/32", "::1/128"])
READYZ_MAX_STREAM_LAG = env_int("READYZ_MAX_STREAM_LAG", 10_000, minimum=1)  # entries behind: not ready

# -------------------------------------------------- streams (outbox, relay, workers)
# Events recorded in the outbox go to Redis Streams; `manage.py run_workers` relays and handles them.
STREAMS_MAXLEN = env_int("STREAMS_MAXLEN", 100_000, minimum=100)  # entries kept per stream (XADD MAXLEN ~)
STREAMS_DEAD_LETTER_MAXLEN = env_int("STREAMS_DEAD_LETTER_MAXLEN", 10_000, minimum=100)
STREAMS_BATCH_SIZE = env_int("STREAMS_BATCH_SIZE", 200, minimum=1)  # entries per XREADGROUP
STREAMS_MAX_DELIVERIES = env_int("STREAMS_MAX_DELIVERIES", 5, minimum=1)  # then the entry is dead-lettered
STREAMS_RETRY_DELAY_MS = env_int("STREAMS_RETRY_DELAY_MS", 1000, minimum=10)  # first retry; doubles each time
STREAMS_CLAIM_IDLE_MS = env_int("STREAMS_CLAIM_IDLE_MS", 30_000, minimum=100)  # a consumer silent this long is dead
STREAMS_RELAY_INTERVAL_MS = env_int("STREAMS_RELAY_INTERVAL_MS", 500, minimum=10)
STREAMS_RELAY_MIN_AGE_MS = env_int("STREAMS_RELAY_MIN_AGE_MS", 1000, minimum=0)  # younger rows are the fast path's
STREAMS_OUTBOX_KEEP_HOURS = env_int("STREAMS_OUTBOX_KEEP_HOURS", 72, minimum=1)  # sent rows are deleted after this
STREAMS_HANDLER_MODULES = env_list("STREAMS_HANDLER_MODULES", [])  # loaded besides every app's handlers.py

# ----------------------------------------------------------------------- presence
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 30, minimum=3)  # heartbeats every third of it

# ------------------------------------------------------------------ notifications
NOTIFICATIONS_KEEP_READ_DAYS = env_int("NOTIFICATIONS_KEEP_READ_DAYS", 90, minimum=1)

# ----------------------------------------------------------------------- sessions
SESSION_ENGINE = "accounts.session_store"  # cached_db that falls back to the database when Redis fails
SESSION_CACHE_ALIAS = "sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=60)

# ------------------------------------------------------------------------- auth
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# -------------------------------------------------------------------- rate limits
# Each rule: "limits" (COUNT/PERIOD, several separated by commas: all must allow; sliding windows)
# and "fail": "open" allows while Redis is unreachable, "closed" refuses. Operators override a rule
# from the environment: RATE_LIMIT_CHAT_MESSAGE="10/10s,60/1m", RATE_LIMIT_CHAT_MESSAGE_FAIL=closed.
RATE_LIMITS = rate_limits_from_env(
    {
        "chat.message": {"limits": "10/10s, 60/1m", "fail": "open"},  # per user: burst, sustained
        "chat.typing": {"limits": "30/1m", "fail": "open"},  # per user
        "chat.reaction": {"limits": "20/10s, 120/1m", "fail": "open"},  # per user: adds and removes
        "chat.presence": {"limits": "20/1m", "fail": "open"},  # per user: active/away changes
        "chat.edit": {"limits": "20/10s, 120/1m", "fail": "open"},  # per user: message.edit and message.delete
        "chat.read": {"limits": "30/10s, 600/10m", "fail": "open"},  # per user: read frames (refusals are silent)
        "chat.sync": {"limits": "60/1m", "fail": "open"},  # per user: sync frames (200 messages each)
        "chat.dm": {"limits": "30/1h", "fail": "open"},  # per user: opening a direct message
        "rooms.manage": {"limits": "30/1m, 300/1h", "fail": "open"},  # per user: invite, remove, roles, settings, mute
        "notifications.read": {"limits": "60/1m", "fail": "open"},  # per user: marking notifications read
        "notifications.watch": {"limits": "10/1m", "fail": "open"},  # per user: rooms.watch frames
        "accounts.sessions": {"limits": "30/1m", "fail": "open"},  # per user: signing sessions out
        # Socket opens (room and notification sockets, reconnects included), refused with 4429. Open: with
        # Redis down sockets still open. A page holds two; a restart's reconnects come once per socket.
        "sockets.connect": {"limits": "30/10s, 300/10m", "fail": "open"},  # per user
        "sockets.connect.ip": {"limits": "120/10s, 1200/10m", "fail": "open"},  # per address (NAT: many users)
        # Open: signing in must keep working while Redis is down (sessions fall back to the database);
        # the price is no brute-force limit during an outage (docs/security.md).
        "auth.login": {"limits": "10/1m, 50/1h", "fail": "open"},  # per IP: brute force from one address
        "auth.login.account": {"limits": "5/1m, 20/1h", "fail": "open"},  # per username tried and IP
        # Per username from any address: over it, attempts only slow down (never 429), so nobody can lock
        # a user out by failing logins in their name.
        "auth.login.slow": {"limits": "30/1h", "fail": "open"},
        "auth.signup": {"limits": "5/1h", "fail": "closed"},  # per IP
        "rooms.create": {"limits": "10/1h", "fail": "open"},  # per user
        "api": {"limits": "120/1m", "fail": "open"},  # per user
        "notifications.broadcast": {"limits": "10/1h", "fail": "closed"},  # per admin, each "Send"
        "search": {"limits": "20/10s, 300/1h", "fail": "open"},  # per user; search itself needs no Redis
        "uploads": {"limits": "10/1m, 200/1d", "fail": "open"},  # per user; the quota still holds without Redis
        "files.download": {"limits": "600/1m", "fail": "open"},  # per user; a room of images loads many
    }
)
# Reverse proxies in front that append to X-Forwarded-For; 0 trusts only the socket's address.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)

# ------------------------------------------------------------------ redis toolkit
# Everything the toolkit reads, in one dict (its names and defaults: redis_toolkit/conf.py).
REDIS_TOOLKIT = {
    "REDIS_URL": REDIS_URL,
    "REDIS_SENTINELS": REDIS_SENTINELS,
    "REDIS_SENTINEL_MASTER": REDIS_SENTINEL_MASTER,
    "REDIS_KEY_PREFIX": REDIS_KEY_PREFIX,
    "REDIS_SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
    "REDIS_MAX_CONNECTIONS": REDIS_MAX_CONNECTIONS,
    "RATE_LIMITS": RATE_LIMITS,
    "NUM_PROXIES": NUM_PROXIES,
    "RATE_LIMIT_JSON_PATHS": ("/api/",),
    "RATE_LIMIT_429_TEMPLATE": "429.html",
    "RATE_LIMIT_503_TEMPLATE": "503.html",
    "STREAMS_MAXLEN": STREAMS_MAXLEN,
    "STREAMS_DEAD_LETTER_MAXLEN": STREAMS_DEAD_LETTER_MAXLEN,
    "STREAMS_BATCH_SIZE": STREAMS_BATCH_SIZE,
    "STREAMS_MAX_DELIVERIES": STREAMS_MAX_DELIVERIES,
    "STREAMS_RETRY_DELAY_MS": STREAMS_RETRY_DELAY_MS,
    "STREAMS_CLAIM_IDLE_MS": STREAMS_CLAIM_IDLE_MS,
    "STREAMS_RELAY_INTERVAL_MS": STREAMS_RELAY_INTERVAL_MS,
    "STREAMS_RELAY_MIN_AGE_MS": STREAMS_RELAY_MIN_AGE_MS,
    "STREAMS_OUTBOX_KEEP_HOURS": STREAMS_OUTBOX_KEEP_HOURS,
    "STREAMS_HANDLER_MODULES": STREAMS_HANDLER_MODULES,
}

# ----------------------------------------------------------------------- security
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# ------------------------------------------------------------------------ logging
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigError(f"LOG_LEVEL={LOG_LEVEL!r} is not a level; use DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
