"""Configuration from the environment: bad values stop start-up with one line naming the variable."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_manage

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
}


@pytest.mark.parametrize(
    ("variable", "value", "expect"),
    [
        ("DATABASE_URL", "mysqlish://nowhere", "database URL"),
        ("DATABASE_URL", "not a url", "database URL"),
        ("REDIS_URL", "http://127.0.0.1:6379", "Redis URL"),
        ("REDIS_URL", "redis://127.0.0.1:notaport/0", "Redis URL"),
        ("REDIS_URL", "redis://127.0.0.1:6379/zero", "must be a number"),
        ("DEBUG", "maybe", "not a boolean"),
        ("CSRF_TRUSTED_ORIGINS", "chat.example.com", "needs its scheme"),
        ("REDIS_SOCKET_TIMEOUT", "soon", "not a whole number"),
        ("REDIS_MAX_CONNECTIONS", "1", "at least 2"),
        ("SESSION_COOKIE_AGE", "-5", "at least 60"),
        ("LOG_LEVEL", "LOUD", "not a level"),
        ("UPLOAD_MAX_BYTES", "ten", "not a whole number"),
        ("UPLOAD_QUOTA_BYTES", "2048", "below UPLOAD_MAX_BYTES"),
        ("VAR_DIR", "/dev/null", "not a directory"),
        ("METRICS_ALLOWED_IPS", "10.0.0.0/8,office", "IP address or network"),
        ("REDIS_SENTINELS", "10.0.0.5", "expected host:port"),
        ("REDIS_CHANNEL_URLS", "redis://a:6379/0,http://b", "Redis URL"),
        ("PRESENCE_TTL_SECONDS", "1", "at least 3"),
    ],
)
def test_bad_value_stops_startup_with_one_line_naming_the_variable(variable, value, expect):
    result = run_manage({"DEBUG": "1", variable: value}, "check")

    assert result.returncode != 0
    message = result.stderr.strip()
    assert "\n" not in message, message
    assert variable in message
    assert expect in message


def test_production_without_secret_key_refuses_to_start():
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    result = run_manage(env, "check")

    assert result.returncode != 0
    assert result.stderr.strip().startswith("chatsite: configuration error: SECRET_KEY is not set")


def test_production_without_allowed_hosts_refuses_to_start():
    env = {**PRODUCTION}
    del env["ALLOWED_HOSTS"]
    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "ALLOWED_HOSTS is empty" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = run_manage(PRODUCTION, "check", "--deploy", "--fail-level", "DEBUG")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "expect"),
    [
        ("HOST", "http://0.0.0.0", "not a host to listen on"),
        ("PORT", "70000", "not a TCP port"),
        ("PORT", "eighty", "not a whole number"),
        ("VAR_DIR", "/dev/null", "not a directory"),
        ("REDIS_URL", "http://127.0.0.1:6379", "not a Redis URL"),
    ],
)
def test_make_run_checks_the_variables_it_reads_before_starting_anything(variable, value, expect):
    """HOST, PORT, VAR_DIR and REDIS_URL are read by the launcher (chatsite/dev), before settings.py."""
    env = {**os.environ, variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "chatsite.dev", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert variable in result.stderr
    assert expect in result.stderr
