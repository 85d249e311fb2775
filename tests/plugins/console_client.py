"""Signing in to the console from a TestClient, shared by the console's test modules."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "mật-khẩu-đủ-dài"


def csrf(page: str) -> str:
    """The csrf_token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(app, name: str, password: str = PASSWORD, agent: str = "testclient") -> TestClient:
    """A client of ``app`` signed in as ``name`` (its session cookie set)."""
    client = TestClient(app, headers={"User-Agent": agent})
    form = client.get("/login")
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf(form.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client
