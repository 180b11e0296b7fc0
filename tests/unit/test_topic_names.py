"""Topic names are written once, in `services/contracts/topics.py`; the services and the tools import
them from there (issue 19). A scan of the string literals of `services/` and `devtools/` (docstrings
aside) finds any copy."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from services.contracts import DERIVED_TOPICS, SOURCE_TOPIC_NAMES

ROOT = Path(__file__).resolve().parents[2]
TOPICS_MODULE = Path("services/contracts/topics.py")

NOT_TOPICS = {
    (Path("services/dashboard/i18n/en.py"), "alerts"): "a translation key",
    (Path("services/dashboard/i18n/sv.py"), "alerts"): "a translation key",
    (Path("services/dashboard/web.py"), "alerts"): "the name of the alerts page",
    (Path("services/followthrough/derive.py"), "alerts"): "a field of the states document",
}
"""Literals that spell a topic's name but mean something else, with what they mean."""

SOURCE_LISTS_ALLOWED = {
    Path("devtools/bench/raw_read.py"): "the audit benchmark's raw baseline imports kafka-python only, "
                                        "so that its timed start-up holds nothing of ours",
}
"""Modules that may spell out the list of source topics themselves, and why."""


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for folder in ("services", "devtools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative != TOPICS_MODULE:
                yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))


def _literals(tree: ast.Module) -> Iterator[ast.Constant]:
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_derived_topic_names_are_spelled_only_in_the_topics_module() -> None:
    names = {spec.name for spec in DERIVED_TOPICS}
    found = [f"{path}:{node.lineno}: {node.value!r}"
             for path, tree in _modules() for node in _literals(tree)
             if node.value in names and (path, node.value) not in NOT_TOPICS]
    assert not found, "import the topic's constant from services.contracts instead of: " + ", ".join(found)


def test_the_source_topics_are_listed_only_in_the_topics_module() -> None:
    """A source topic's name is also its intake service's name (`Service`), so single literals are
    not topic names by themselves; a collection that holds all of them is the list of source topics."""
    sources = set(SOURCE_TOPIC_NAMES)
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and path not in SOURCE_LISTS_ALLOWED:
                spelled = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if sources <= spelled:
                    found.append(f"{path}:{node.lineno}")
    assert not found, "use services.contracts.SOURCE_TOPIC_NAMES instead of the list at " + ", ".join(found)


def test_the_allowances_are_still_needed() -> None:
    literals = {(path, node.value) for path, tree in _modules() for node in _literals(tree)}
    assert set(NOT_TOPICS) <= literals
    assert all((ROOT / path).is_file() for path in SOURCE_LISTS_ALLOWED)
