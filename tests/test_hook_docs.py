"""Meta-tests: every hook is documented with its signature, and every hook has a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import hub.hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {name: func for name, func in inspect.getmembers(hub.hookspecs, inspect.isfunction)
         if name.startswith("hub_")}


def _heading(name: str) -> str:
    signature = inspect.signature(HOOKS[name])
    params = ", ".join(signature.parameters)
    returns = str(signature.return_annotation).strip("'")
    return f"### {name}({params}) -> {returns}"


def test_there_are_hooks():
    assert {"hub_register_renderers", "hub_register_tts_engines", "hub_register_text_normalizers",
            "hub_register_routes", "hub_on_bulletin_approved", "hub_on_artifact_stored"} <= set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_its_signature(name):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert _heading(name) in docs.splitlines(), f"docs/plugins.md needs the heading: {_heading(name)}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hookspec_has_a_docstring_with_params_and_example(name):
    doc = inspect.getdoc(HOOKS[name]) or ""
    for param in inspect.signature(HOOKS[name]).parameters:
        assert f":param {param}:" in doc
    assert "Example::" in doc and "@hookimpl" in doc


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_has_a_test(name):
    here = Path(__file__).resolve()
    users = [path for path in (ROOT / "tests").rglob("test_*.py")
             if path != here and re.search(rf"\b{name}\b", path.read_text())]
    assert users, f"no test implements or calls {name}"
