"""The layering rules of docs/architecture.md, checked on the source: which layer may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "hub"
PLUGINS = ROOT / "plugins"
#: What a plugin may import from the core (docs/plugins.md, "What a plugin may import").
PLUGIN_API = {"hub", "hub.plugin_types", "hub.plugin_api"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = PLUGINS if PLUGINS in path.parents else ROOT
    package = path.parent.relative_to(top).parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            found.append((node.lineno, ".".join((*base, *([node.module] if node.module else [])))))
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


def plugin_packages() -> set[str]:
    return {p.name for p in PLUGINS.iterdir() if (p / "__init__.py").exists()}


def test_the_rules_see_the_imports_they_check() -> None:
    # A walker that found nothing would pass every rule below.
    assert len(sources(PLUGINS)) > 20 and len(sources(CORE)) > 40
    assert "hub" in {name for _line, name in imports(PLUGINS / "hub_web" / "__init__.py")}
    assert "hub.services" in {name for _line, name in imports(CORE / "runtime.py")}


@pytest.mark.parametrize("path", sources(PLUGINS), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_plugin_api(path: Path) -> None:
    own = path.relative_to(PLUGINS).parts[0]
    wrong = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in imports(path)
             if (name == "hub" or name.startswith("hub.")) and name not in PLUGIN_API]
    assert not wrong, "plugins may import only hub, hub.plugin_types and hub.plugin_api:\n" + "\n".join(wrong)
    others = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in imports(path)
              if name.split(".")[0] in plugin_packages() - {own}]
    assert not others, "a plugin must not reach into another plugin's modules:\n" + "\n".join(others)


@pytest.mark.parametrize("path", sources(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_a_plugin(path: Path) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in imports(path)
             if name.split(".")[0] in plugin_packages()]
    assert not wrong, "the core must not know its plugins:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", sources(CORE / "api"), ids=lambda p: str(p.relative_to(ROOT)))
def test_routes_reach_the_store_only_through_services(path: Path) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in imports(path)
             if name in ("hub.store", "hub.models", "hub.pipeline") or (
                 name.startswith("sqlalchemy") and name != "sqlalchemy.orm")]
    assert not wrong, "hub/api routes parse, call a service and shape the answer:\n" + "\n".join(wrong)


def test_the_walker_resolves_relative_imports() -> None:
    assert {"hub_ingest", "hub_ingest.cap_ingest"} <= {name for _line, name in imports(PLUGINS / "hub_ingest" / "api.py")}
