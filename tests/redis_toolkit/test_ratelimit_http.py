"""Rate limits over HTTP: 429 pages and JSON, RateLimit header fields, login and signup protection."""

from __future__ import annotations

import itertools

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path, reverse

from chatsite.urls import urlpatterns as site_urlpatterns
from redis_toolkit.client import redis_outage, reset_clients
from redis_toolkit.ratelimit.core import rate_limit_reset
from redis_toolkit.ratelimit.http import key_ip, ratelimit_view

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

_addresses = itertools.count(1)


def fresh_name(name: str) -> str:
    """A username no other test of this run tried to log in as."""
    return f"{name}-{next(_addresses)}"


def fresh_ip() -> str:
    """A client address no other test of this run used, so each test starts with empty counts."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


@ratelimit_view("tests.page", key="ip")
def page_view(request):
    return HttpResponse("ok")


@ratelimit_view("tests.page", key="ip")
def json_page_view(request):
    return HttpResponse("ok")


@ratelimit_view("tests.open", key="ip")
def open_view(request):
    return HttpResponse("ok")


@ratelimit_view("tests.page", key="user")
def api_view(request):
    return JsonResponse({"ok": True})


@ratelimit_view("tests.page", key="ip", methods=("POST",))
def form_view(request):
    return HttpResponse("posted" if request.method == "POST" else "form")


urlpatterns = [
    path("rl/page/", page_view),
    path("rl/json/", json_page_view),
    path("rl/open/", open_view),
    path("rl/form/", form_view),
    path("api/rl/", api_view),
    *site_urlpatterns,
]

RULES = {
    "tests.page": {"limits": "2/1m", "fail": "closed"},
    "tests.open": {"limits": "2/1m", "fail": "open"},
    "auth.login": {"limits": "3/1m", "fail": "closed"},
    "auth.login.account": {"limits": "2/1m", "fail": "closed"},
    "auth.login.slow": {"limits": "2/1m", "fail": "open"},
    "auth.signup": {"limits": "2/1m", "fail": "closed"},
    "notifications.broadcast": {"limits": "2/1h", "fail": "closed"},
}


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **RULES}
    redis_outage.recovered()  # one test's Redis going down must not pause the next's checks
    yield
    redis_outage.recovered()


def browser(**extra) -> Client:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    return Client(REMOTE_ADDR=fresh_ip(), HTTP_ACCEPT=accept, **extra)


# ------------------------------------------------------------------------------------ 429 and headers


@pytest.mark.urls(__name__)
def test_successful_responses_carry_the_ratelimit_fields():
    response = browser().get("/rl/page/")

    assert response.status_code == 200
    assert response["RateLimit-Policy"] == '"tests.page";q=2;w=60'
    assert response["RateLimit"] == '"tests.page";r=1;t=60'


@pytest.mark.urls(__name__)
def test_browser_over_the_limit_gets_a_429_page_with_retry_after():
    client = browser()
    for _ in range(2):
        client.get("/rl/page/")

    response = client.get("/rl/page/")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert 58 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit"].startswith('"tests.page";r=0;t=')
    assert response["RateLimit-Policy"] == '"tests.page";q=2;w=60'
    page = response.content.decode()
    assert "<h1>Too many requests</h1>" in page
    assert f"try again in {response['Retry-After']} seconds" in page


@pytest.mark.urls(__name__)
def test_json_client_over_the_limit_gets_a_json_429():
    client = Client(REMOTE_ADDR=fresh_ip(), HTTP_ACCEPT="application/json")
    for _ in range(2):
        client.get("/rl/page/")

    response = client.get("/rl/page/")

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["retry_after"] == int(response["Retry-After"])
    assert "try again in" in error["detail"]


@pytest.mark.urls(__name__)
def test_api_paths_answer_json_whatever_the_client_accepts(make_user):
    client = browser()
    client.force_login(make_user())
    assert client.get("/api/rl/")["RateLimit"] == '"tests.page";r=1;t=60'  # per user, not per IP
    client.get("/api/rl/")

    response = client.get("/api/rl/")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"


async def test_async_views_are_limited_like_sync_ones_without_blocking_the_loop():
    @ratelimit_view("tests.page", key="ip")
    async def view(request):
        return HttpResponse("ok")

    ip = fresh_ip()
    responses = [await view(RequestFactory().get("/", REMOTE_ADDR=ip)) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0]["RateLimit"] == '"tests.page";r=1;t=60'


@pytest.mark.urls(__name__)
def test_only_the_methods_named_are_counted():
    client = browser()

    assert [client.get("/rl/form/").status_code for _ in range(3)] == [200, 200, 200]
    assert [client.post("/rl/form/").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.urls(__name__)
def test_without_a_template_the_refusal_is_plain_text_and_json_paths_are_configurable(settings):
    settings.REDIS_TOOLKIT = {
        **settings.REDIS_TOOLKIT,
        "RATE_LIMIT_429_TEMPLATE": None,
        "RATE_LIMIT_JSON_PATHS": ("/rl/json/",),
    }
    client = browser()

    pages = [client.get("/rl/page/") for _ in range(3)]
    api = [client.get("/rl/json/") for _ in range(3)]

    assert pages[2].status_code == 429
    assert pages[2]["Content-Type"].startswith("text/plain")
    assert pages[2].content.decode() == "Too many requests; try again in 60 seconds."
    assert api[2].status_code == 429
    assert api[2].json()["error"]["code"] == "rate_limited"


def test_several_windows_are_all_advertised(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "tests.page": {"limits": "5/10s, 100/1h", "fail": "open"}}
    request = RequestFactory().get("/", REMOTE_ADDR=fresh_ip())

    response = page_view(request)

    assert response["RateLimit-Policy"] == '"tests.page.10s";q=5;w=10, "tests.page.3600s";q=100;w=3600'
    assert response["RateLimit"] == '"tests.page.10s";r=4;t=10, "tests.page.3600s";r=99;t=3600'


# ------------------------------------------------------------------------------------- Redis is down


@pytest.mark.urls(__name__)
def test_fail_open_view_serves_without_headers_and_fail_closed_view_refuses(spare_redis):
    client = browser()
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        served = [client.get("/rl/open/") for _ in range(3)]
        refused = client.get("/rl/page/")
        refused_json = client.get("/rl/page/", HTTP_ACCEPT="application/json")
    reset_clients()

    assert [response.status_code for response in served] == [200, 200, 200]  # nothing could be counted
    assert "RateLimit" not in served[0]
    assert refused.status_code == 503
    assert "Retry-After" in refused
    assert "Try again shortly" in refused.content.decode()
    assert refused_json.json()["error"]["code"] == "unavailable"


def test_login_refuses_while_redis_is_unreachable(make_user, spare_redis):
    dora = make_user(fresh_name("dora"))
    client = browser()
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        response = client.post("/accounts/login/", {"username": dora.username, "password": "pw-for-tests-123"})
    reset_clients()

    assert response.status_code == 503
    assert "_auth_user_id" not in client.session


# -------------------------------------------------------------------------------- login and signup


def _login(client: Client, username: str, password: str = "wrong"):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_login_attempts_are_limited_per_ip(make_user):
    client = browser()

    statuses = [
        _login(client, make_user(fresh_name(name)).username).status_code for name in ("erin", "fay", "gus", "hal")
    ]

    assert statuses == [200, 200, 200, 429]  # wrong passwords, then refused whoever is tried


def test_login_attempts_per_username_are_refused_per_address_and_only_slowed_across_addresses(make_user):
    ivy = make_user(fresh_name("ivy")).username
    attacker = browser()
    statuses = [_login(attacker, ivy).status_code for _ in range(2)]

    refused = _login(attacker, ivy.upper())  # case does not buy more tries
    right_password_there = _login(attacker, ivy, "pw-for-tests-123")
    elsewhere = [_login(browser(), ivy).status_code for _ in range(3)]  # past auth.login.slow: slowed only
    owner = _login(browser(), ivy, "pw-for-tests-123")

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused["RateLimit"].startswith('"auth.login.account";r=0')
    assert right_password_there.status_code == 429  # brute force from that address gains nothing
    assert elsewhere == [200, 200, 200]
    assert owner.status_code == 302  # nobody can lock the owner out from their own address


def test_login_page_is_not_counted_and_a_good_login_carries_the_fields(make_user):
    jon = make_user(fresh_name("jon")).username
    client = browser()
    for _ in range(5):
        assert client.get("/accounts/login/").status_code == 200

    response = _login(client, jon, "pw-for-tests-123")

    assert response.status_code == 302
    assert response["RateLimit"] == '"auth.login";r=2;t=60'


def test_signup_is_limited_per_ip(django_user_model):
    client = browser()

    def signup(n: int) -> int:
        password = "a-long-pass-phrase-9"
        data = {"username": f"newcomer{n}", "password1": password, "password2": password}
        response = client.post("/accounts/signup/", data)
        client.logout()
        return response.status_code

    assert [signup(n) for n in range(3)] == [302, 302, 429]
    assert not django_user_model.objects.filter(username="newcomer2").exists()


def test_admin_broadcasts_are_limited_per_admin(make_user):
    make_user(fresh_name("reader"))
    admin = make_user(fresh_name("admin"), is_staff=True, is_superuser=True)
    rate_limit_reset("notifications.broadcast", f"user:{admin.pk}")  # user ids repeat across tests
    client = browser()
    client.force_login(admin)
    send = reverse("admin:notifications_broadcast_add")

    statuses = [client.post(send, {"text": f"Deploy at {n}", "users": ""}).status_code for n in range(3)]

    assert statuses == [302, 302, 429]
    assert client.get(send).status_code == 200  # the form itself is not counted


# ------------------------------------------------------------------------------------- client address


def test_ip_key_uses_the_socket_address_unless_proxies_are_configured(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5")
    assert key_ip(request) == "ip:10.0.0.1"  # a client-supplied header is not trusted by default

    settings.NUM_PROXIES = 1
    assert key_ip(request) == "ip:203.0.113.5"  # the address our one proxy saw


def test_ipv6_clients_are_counted_by_their_64_prefix():
    one = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:2::1")
    other = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:2:ffff::9")

    assert key_ip(one) == key_ip(other) == "ip:2001:db8:1:2::/64"
