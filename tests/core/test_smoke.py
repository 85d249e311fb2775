from tests.conftest import bulletin_payload


def test_create_submit_approve(client, people):
    people.commune("X1")
    author = people.user("a", "editor")
    approver = people.user("b", "editor")
    r = client.post("/api/v1/bulletins", json=bulletin_payload(), headers=author)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert client.post(f"/api/v1/bulletins/{bid}/submit", headers=author).status_code == 200
    assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=author).status_code == 403
    r = client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["render_status"] in ("queued", "done")
