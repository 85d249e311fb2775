"""Failed authentication is slowed per address (issue 14): past the limit, 429 with Retry-After,
and the scan is counted in /metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.throttle import FailedAuth


@pytest.fixture
def limited(settings, pm, people):
    app = create_app(settings.model_copy(update={"auth_fail_limit": 5, "auth_fail_window_s": 60}), pm=pm)
    with TestClient(app) as client:
        yield client


def test_a_token_scan_is_answered_429_and_counted(limited, people):
    hub = limited.app.state.hub
    for n in range(5):
        response = limited.get("/api/v1/bulletins", headers={"Authorization": f"Bearer hubu_guess{n:04d}xxxxxxxx"})
        assert response.status_code == 401
    for path, prefix in (("/api/v1/bulletins", "hubu_"), ("/api/v1/device/manifest", "hubd_")):
        response = limited.get(path, headers={"Authorization": f"Bearer {prefix}guessmoreXXXXXXXX"})
        assert response.status_code == 429, (path, response.text)
        assert response.json()["detail"] and 1 <= int(response.headers["retry-after"]) <= 60
    metrics = limited.get("/metrics").text
    assert "hub_auth_failures_total 5.0" in metrics and "hub_auth_throttled_total 2.0" in metrics
    assert hub.failed_auth.retry_after("testclient") is not None


def test_requests_without_a_token_and_good_tokens_do_not_count(limited, people):
    headers = people.user("ed", "editor")
    for _ in range(10):
        assert limited.get("/api/v1/bulletins").status_code == 401  # no token: not a guess
        assert limited.get("/api/v1/bulletins", headers=headers).status_code == 200


def test_the_window_passes():
    now = [1000.0]
    throttle = FailedAuth(limit=3, window_s=10, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10 and throttle.retry_after("10.0.0.2") is None
    now[0] += 10.5
    assert throttle.retry_after("10.0.0.1") is None
    many = FailedAuth(limit=1, window_s=10, clock=lambda: now[0], max_addresses=100)
    for n in range(500):
        many.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(many._failures) <= 100
