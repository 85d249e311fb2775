"""Issue 14: the OpenAPI description is true to the code. schemathesis generates requests for every
operation from /openapi.json (a bounded number of examples each, the same every run) and checks
each answer, sent with an editor's and an operator's token: no server error, a documented status,
a documented content type, and a body that matches its schema (errors included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis import checks

from hub.app import create_app
from hub.config import Settings
from tests.conftest import People, bulletin_payload

pytestmark = pytest.mark.sqlite_only  # the description, not the store: one lane

#: Examples per operation and token; the suite's time budget allows few, derandomized so a run is
#: repeatable (the seed varies with the operation, not the run).
EXAMPLES = 3
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("openapi")) / "var", workers=0, tts_engines=["espeak"])
    with TestClient(create_app(settings)) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        editor = people.user("bientap", "editor")
        # Something to find: a draft, so ids of a real bulletin exist beside generated ones.
        assert client.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"]), headers=editor).status_code == 201
        tokens = {"editor": editor, "operator": people.user("vanhanh", "operator", "A")}
        yield client.app, tokens


def test_the_description_says_what_errors_look_like(world):
    app, _tokens = world
    spec = app.openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for item in spec["paths"].values():
        for operation in item.values():
            for code in ("401", "403", "404", "409", "413", "422", "429", "507"):
                assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("who", ["editor", "operator"])
def test_every_operation_answers_as_described(world, who):
    app, tokens = world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40

    for operation in operations:
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def call(case):
            case.call_and_validate(headers=tokens[who], checks=CHECKS)

        try:
            call()
        except BaseException as exc:  # schemathesis raises an ExceptionGroup of its failures
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:800]
    assert not failures, "\n\n".join(f"{name}\n{text}" for name, text in failures.items())
