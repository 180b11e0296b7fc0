"""The audit package's layout: `checkpointer` (the service), `cli` (`gvi-audit`) and `library`, whose
`__all__` is what the other two and the dashboard import; the imports point one way."""

from __future__ import annotations

import importlib
import tomllib

import services.audit.library as library
from tests.unit.test_import_cycles import ROOT, import_graph

LIBRARY = "services.audit.library"


def _imports_of(prefix: str) -> set[tuple[str, str]]:
    """(module, imported audit module) for every module under `prefix`."""
    return {(name, target) for name, targets in import_graph().items()
            if name == prefix or name.startswith(prefix + ".")
            for target in targets if target.startswith("services.audit")}


def test_the_dashboard_imports_only_the_library_s_public_api() -> None:
    found = _imports_of("services.dashboard")
    assert found, "the dashboard no longer imports the audit library: update this test"
    assert {target for _, target in found} == {LIBRARY}, sorted(found)


def test_the_checkpointer_and_the_cli_use_the_library_through_its_public_api() -> None:
    for package in ("services.audit.checkpointer", "services.audit.cli"):
        outside = {(name, target) for name, target in _imports_of(package)
                   if not target.startswith(package) and target != LIBRARY}
        assert not outside, outside


def test_the_library_imports_neither_the_checkpointer_nor_the_cli() -> None:
    found = {(name, target) for name, target in _imports_of(LIBRARY)
             if not target.startswith(LIBRARY)}
    assert not found, found


def test_every_public_name_of_the_library_is_there() -> None:
    for name in library.__all__:
        assert getattr(library, name) is not None, name


def test_the_console_scripts_name_callables() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gvi-audit"] == "services.audit.cli:main"
    for target in scripts.values():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), target
