"""/healthz and /metrics."""


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["disk_free_bytes"] > 0


def test_metrics_are_prometheus_text(client, people):
    people.commune("A")
    people.device("loa", "A")
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'hub_devices{state="offline"} 1.0' in text
    assert 'hub_http_requests_total{method="GET",status="200"}' in text
    assert "hub_render_jobs" in text and "hub_bulletins" in text
