"""No import cycle among the project's modules under `services/`.

Each module's imports are read from its source with `ast` (nothing is imported): `import x`,
`from x import y` (an edge to `x.y` when that is a module, else to `x`) and relative imports,
wherever they stand, at module level or deferred inside a function, since a deferred import is a
dependency all the same. Imports under
`if TYPE_CHECKING:` are left out: they never run. A package's `__init__` is a module of its own; a
module is not taken to import its parent packages, which Python imports first anyway.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "services"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module under `services/`, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in nodes:
        if isinstance(node, ast.If) and _type_checking(node):
            yield from _imports(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _imports([child])
                elif isinstance(child, ast.excepthandler):
                    yield from _imports(child.body)


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that module `name` (at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path)).body):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join([*parts[:len(parts) - (node.level - 1)], *([base] if base else [])])
        targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    edges = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imported(name, path, known) for name, path in known.items()}


def test_no_import_cycle_among_the_services_modules() -> None:
    graph = import_graph()
    assert len(graph) > 100, "the scan found too few modules: has services/ moved?"
    found = cycles(graph)
    assert not found, "import cycles (each a set of modules that import one another, directly or not): " + \
        "; ".join(" ↔ ".join(component) for component in found)



RULES = "services.followthrough"
"""The rules of the strategy (issue 19, step 2): on the ground floor beside the contracts."""


def test_the_rules_import_nothing_but_the_contracts() -> None:
    graph = import_graph()
    rules = {name for name in graph if name == RULES or name.startswith(RULES + ".")}
    assert len(rules) > 5, "the scan found too few modules of the rules: have they moved?"
    outside = {(name, target) for name in rules for target in graph[name]
               if target not in rules and target.partition(".")[2].split(".")[0] != "contracts"}
    assert not outside, f"the rules import more than `services.contracts`: {sorted(outside)}"


def _rules_imports(path: Path) -> Iterator[ast.ImportFrom | ast.Import]:
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path)).body):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(RULES):
            yield node
        elif isinstance(node, ast.Import) and any(a.name.startswith(RULES) for a in node.names):
            yield node


def test_callers_take_the_rules_public_names_from_the_package() -> None:
    import services.followthrough

    public = set(services.followthrough.__all__)
    wrong = []
    for tree in ("services", "tests", "devtools"):
        for path in sorted((ROOT / tree).rglob("*.py")):
            if path.is_relative_to(ROOT / "services" / "followthrough"):
                continue
            for node in _rules_imports(path):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names if a.name != RULES and a.name.startswith(RULES)]
                else:
                    names = ([node.module] if node.module != RULES else
                             [a.name for a in node.names if a.name not in public])
                wrong += [f"{path.relative_to(ROOT)}: {n}" for n in names]
    assert not wrong, "import the rules' `__all__` names from `services.followthrough`: " + "; ".join(wrong)

def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_scan_finds_cycles_through_every_kind_of_import(tmp_path: Path) -> None:
    _write(tmp_path, {
        "services/__init__.py": "",
        "services/a/__init__.py": "",
        "services/a/top.py": "def main():\n    from services.a import middle\n",
        "services/a/middle.py": "from .low import f\n",
        "services/a/low.py": "import services.a.top\n",
        "services/b/__init__.py": "",
        "services/b/one.py": ("import typing\nif typing.TYPE_CHECKING:\n    from services.b import two\n"
                              "def f():\n    pass\n"),
        "services/b/two.py": "try:\n    from ..b.one import x\nexcept ImportError:\n    pass\n",
    })
    assert cycles(import_graph(tmp_path)) == [["services.a.low", "services.a.middle", "services.a.top"]]
