"""The CRM API client against a real local HTTP server: what is retried, how long it waits
(through the injected sleep, so nothing waits), and what an error may say."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from pytest_httpserver import HTTPServer

from crm_sync.errors import ApiError
from crm_sync.http import ApiClient, RetryPolicy, mask_emails, retry_after_seconds

TOKEN = "pat-na1-0123456789abcdef"


def client(server: HTTPServer, sleeps: list[float], attempts: int = 4) -> ApiClient:
    return ApiClient(
        server.url_for("/"),
        {"Authorization": f"Bearer {TOKEN}"},
        policy=RetryPolicy(max_attempts=attempts, backoff_seconds=0.5, max_backoff_seconds=4),
        sleep=sleeps.append,
    )


def test_a_429_waits_for_retry_after_and_5xx_backs_off_exponentially(
    httpserver: HTTPServer,
) -> None:
    sleeps: list[float] = []
    path = "/crm/v3/objects/deals/search"
    httpserver.expect_ordered_request(path, method="POST").respond_with_data(
        "", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(
        {"message": "oops"}, status=502
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json({}, status=503)
    httpserver.expect_ordered_request(
        path, method="POST", json={"limit": 1}, headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json({"results": []})

    answer = client(httpserver, sleeps).request("POST", path, body={"limit": 1})

    assert answer == {"results": []}
    assert sleeps == [7.0, 1.0, 2.0]  # Retry-After, then 0.5 * 2 ** (failures - 1)
    httpserver.check_assertions()


def test_retries_stop_after_max_attempts_with_a_retryable_error(httpserver: HTTPServer) -> None:
    sleeps: list[float] = []
    httpserver.expect_request("/down").respond_with_json({"message": "maintenance"}, status=500)

    with pytest.raises(ApiError) as raised:
        client(httpserver, sleeps, attempts=3).request("GET", "/down")

    assert (raised.value.status, raised.value.retryable) == (500, True)
    assert raised.value.message == "maintenance"
    assert len(httpserver.log) == 3
    assert sleeps == [0.5, 1.0]


def test_a_4xx_is_final_and_never_retried(httpserver: HTTPServer) -> None:
    sleeps: list[float] = []
    httpserver.expect_request("/contacts").respond_with_json(
        {"status": "error", "message": "Property values were not valid: ada@example.com"},
        status=400,
    )

    with pytest.raises(ApiError) as raised:
        client(httpserver, sleeps).request("POST", "/contacts", body={"a": 1})

    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert "ada@example.com" not in str(raised.value)
    assert "<email>" in raised.value.message
    assert len(httpserver.log) == 1
    assert sleeps == []


def test_a_retry_after_beyond_the_limit_is_not_waited_for(httpserver: HTTPServer) -> None:
    sleeps: list[float] = []
    httpserver.expect_request("/slow").respond_with_data(
        "", status=429, headers={"Retry-After": "86400"}
    )

    with pytest.raises(ApiError) as raised:
        client(httpserver, sleeps).request("GET", "/slow")

    assert raised.value.retryable is True
    assert sleeps == []


def test_no_answer_is_retryable(httpserver: HTTPServer) -> None:
    sleeps: list[float] = []
    closed = ApiClient(
        "http://127.0.0.1:9",  # discard port: nothing listens
        {},
        policy=RetryPolicy(max_attempts=2, backoff_seconds=0.1),
        sleep=sleeps.append,
        timeout=2,
    )

    with pytest.raises(ApiError) as raised:
        closed.request("GET", "/x")

    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert sleeps == [0.1]


def test_paging_links_are_followed_only_on_the_apis_origin(httpserver: HTTPServer) -> None:
    api = client(httpserver, [])

    with pytest.raises(ApiError):
        api.url("https://evil.example/steal")

    assert api.url(httpserver.url_for("/next")) == httpserver.url_for("/next")
    assert api.url("/next") == httpserver.url_for("/next")


def test_non_json_and_empty_answers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/html").respond_with_data("<html>", status=200)
    httpserver.expect_request("/empty").respond_with_data("", status=204)
    api = client(httpserver, [])

    with pytest.raises(ApiError) as raised:
        api.request("GET", "/html")

    assert raised.value.retryable is False
    assert api.request("PATCH", "/empty", body={"x": 1}) == {}


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)

    assert retry_after_seconds("12", now) == 12.0
    assert retry_after_seconds(later, now) == 30.0
    assert retry_after_seconds("not a date", now) is None
    assert retry_after_seconds(None, now) is None


def test_mask_emails() -> None:
    assert mask_emails("Contact ADA.L@Example.co.uk exists") == "Contact <email> exists"
