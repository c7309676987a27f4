"""An /api/ request goes through settings.API_MIDDLEWARE only; every other path through the rest of
settings.MIDDLEWARE (api.http.pipeline). What each middleware does is pinned by its own tests
(headers, envelope, input guard, Host check, read routing, hot reads): these pin the split."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.test import Client, RequestFactory, override_settings

from api.http.middleware import ApiCommonMiddleware, ApiHeadersMiddleware, SecurityHeadersMiddleware

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

SEEN: list[str] = []


class Spy:
    """A middleware that notes the path of every request it sees."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        SEEN.append(request.path)
        return self.get_response(request)


SPY = f"{__name__}.Spy"


def _served(path: str, *, middleware: list[str], api_middleware: list[str]) -> int:
    SEEN.clear()
    with override_settings(MIDDLEWARE=middleware, API_MIDDLEWARE=api_middleware):
        return Client().get(path).status_code


def test_an_api_request_meets_the_api_middleware_and_never_the_sites() -> None:
    status = _served(
        "/api/v1/ping", middleware=["api.http.pipeline.ApiPipeline", SPY], api_middleware=settings.API_MIDDLEWARE
    )
    assert status == 200
    assert SEEN == []
    status = _served("/api/v1/ping", middleware=["api.http.pipeline.ApiPipeline"], api_middleware=[SPY])
    assert status == 200
    assert SEEN == ["/api/v1/ping"]


def test_every_other_path_goes_down_the_sites_middleware() -> None:
    status = _served("/admin/login/", middleware=["api.http.pipeline.ApiPipeline", *settings.MIDDLEWARE[1:], SPY],
                     api_middleware=[SPY])  # fmt: skip
    assert status == 200
    assert SEEN == ["/admin/login/"]


def test_the_pipeline_is_first_and_the_api_keeps_the_sites_order() -> None:
    """Whatever acts on an /api/ request acts in the order settings.MIDDLEWARE gives it."""
    assert settings.MIDDLEWARE[0] == "api.http.pipeline.ApiPipeline"
    shared = [m for m in settings.API_MIDDLEWARE if m in settings.MIDDLEWARE]
    assert shared == [m for m in settings.MIDDLEWARE if m in settings.API_MIDDLEWARE]
    # What the site has and the API lacks serves the admin's cookie sessions and static files, or
    # sets the headers ApiHeadersMiddleware sets in one step (tests below), or is Django's
    # CommonMiddleware, which ApiCommonMiddleware extends in the same place.
    assert {m.rsplit(".", 1)[1] for m in settings.MIDDLEWARE[1:] if m not in settings.API_MIDDLEWARE} == {
        "WhiteNoiseMiddleware",
        "SessionMiddleware",
        "CsrfViewMiddleware",
        "AuthenticationMiddleware",
        "MessageMiddleware",
        "CommonMiddleware",
        *HEADER_MIDDLEWARE,
    }
    common = settings.MIDDLEWARE.index("django.middleware.common.CommonMiddleware")
    api_common = settings.API_MIDDLEWARE.index("api.http.middleware.ApiCommonMiddleware")
    assert [m for m in settings.MIDDLEWARE[:common] if m in settings.API_MIDDLEWARE] == [
        m for m in settings.API_MIDDLEWARE[:api_common] if m in settings.MIDDLEWARE
    ]


HEADER_MIDDLEWARE = ("SecurityMiddleware", "SecurityHeadersMiddleware", "XFrameOptionsMiddleware")


def _site_headers(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """The view inside the three middleware that set an answer's headers on the site's paths."""
    return SecurityMiddleware(SecurityHeadersMiddleware(XFrameOptionsMiddleware(view)))  # type: ignore[arg-type]


def _answer(**headers: str) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(b"<script>go()</script>" if request.path.endswith("/docs") else b"{}")
        for name, value in headers.items():
            response[name.replace("_", "-")] = value
        if request.path.endswith("/exempt"):
            response.xframe_options_exempt = True  # type: ignore[attr-defined]
        return response

    return view


@pytest.mark.parametrize(
    ("path", "secure", "own"),
    [
        ("/api/v1/ping", False, {}),
        ("/api/v1/ping", True, {}),
        ("/api/v1/docs", False, {}),
        ("/api/v1/exempt", False, {}),
        ("/api/v1/ping", True, {"Cache_Control": "max-age=60", "X_Frame_Options": "SAMEORIGIN",
                                "Content_Security_Policy": "default-src 'self'", "Referrer_Policy": "no-referrer",
                                "Strict_Transport_Security": "max-age=1"}),
    ],
    ids=["plain", "secure", "docs", "exempt from framing rules", "the view's own"],
)  # fmt: skip
@override_settings(SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_PROXY_SSL_HEADER=None)
def test_an_api_answer_gets_the_headers_the_sites_three_middleware_would_set(
    path: str, secure: bool, own: dict[str, str]
) -> None:
    request = RequestFactory().get(path, secure=secure)
    expected = _site_headers(_answer(**own))(request)
    got = ApiHeadersMiddleware(_answer(**own))(request)
    assert dict(got.items()) == dict(expected.items())
    assert got.content == expected.content


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=None)
def test_a_plain_request_is_redirected_as_the_site_redirects_it() -> None:
    request = RequestFactory().get("/api/v1/ping?x=1")
    expected = _site_headers(_answer())(request)
    got = ApiHeadersMiddleware(_answer())(request)
    assert got.status_code == expected.status_code == 301
    assert got["Location"] == expected["Location"] == "https://testserver/api/v1/ping?x=1"


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/openapi.json", "/api/v1/"])
def test_the_documentation_pages_answer_reads_only(path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(path, "{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert client.head(path).status_code == client.get(path).status_code


# --- the Host check, remembered (ApiCommonMiddleware) -------------------------------------------


def _host_checked(middleware: ApiCommonMiddleware, host: str, **extra: str) -> int:
    request = RequestFactory().get("/api/v1/ping", HTTP_HOST=host, **extra)
    try:
        response = middleware(request)
    except DisallowedHost:
        return 400
    except PermissionDenied:
        return 403
    return response.status_code


def test_a_host_allowed_once_is_refused_again_when_the_settings_no_longer_allow_it() -> None:
    checked = ApiCommonMiddleware(lambda request: HttpResponse(b"ok"))
    with override_settings(ALLOWED_HOSTS=["api.example", "testserver"]):
        assert _host_checked(checked, "api.example") == 200
        assert _host_checked(checked, "evil.example") == 400  # never remembered, always Django's check
        assert _host_checked(checked, "api.example") == 200  # remembered
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        assert _host_checked(checked, "api.example") == 400
    with override_settings(ALLOWED_HOSTS=["api.example"], DISALLOWED_USER_AGENTS=[re.compile("bad-bot")]):
        assert _host_checked(checked, "api.example") == 200
        assert _host_checked(checked, "api.example", HTTP_USER_AGENT="bad-bot/1.0") == 403  # each time, not remembered
        assert _host_checked(checked, "api.example", HTTP_USER_AGENT="bad-bot/1.0") == 403


def test_the_hosts_remembered_are_bounded_and_the_answer_keeps_djangos_content_length() -> None:
    checked = ApiCommonMiddleware(lambda request: HttpResponse(b"four"))
    with override_settings(ALLOWED_HOSTS=[".example.com"]):
        for n in range(3 * ApiCommonMiddleware.HOSTS_KEPT):
            assert _host_checked(checked, f"h{n}.example.com") == 200
        assert len(checked._allowed) <= ApiCommonMiddleware.HOSTS_KEPT
        response = checked(RequestFactory().get("/api/v1/ping", HTTP_HOST="h1.example.com"))
    assert response["Content-Length"] == "4"
