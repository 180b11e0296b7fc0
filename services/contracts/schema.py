"""Write the contract out as JSON Schema (one file per event type) and as one AsyncAPI 3.0 document.

Everything here is generated from the pydantic models in `events` and `envelope.py` and from the
topic table in `topics.py` (`event_schemas`, `asyncapi`); the checked-in files under `docs/` are
outputs, never edited by hand:

    python -m services.contracts.schema            # regenerate docs/schemas/*.json, docs/asyncapi.yaml
    python -m services.contracts.schema --check    # exit 1, naming them, if the checked-in ones are stale

`services.contracts.openapi` gives the same schemas as an intake service's OpenAPI request body.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from services.contracts.asyncapi import asyncapi_document
from services.contracts.event_schemas import GENERATED_NOTE, REGENERATE, json_schemas

__all__ = [
    "ASYNCAPI_PATH",
    "REGENERATE",
    "SCHEMA_DIR",
    "generated_files",
    "main",
    "stale_files",
    "write_files",
]

SCHEMA_DIR = "docs/schemas"
ASYNCAPI_PATH = "docs/asyncapi.yaml"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def generated_files() -> dict[str, str]:
    """Every generated file's text, by path relative to the repository root."""
    files = {f"{SCHEMA_DIR}/{t}.json": json.dumps(s, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
             for t, s in json_schemas().items()}
    files[ASYNCAPI_PATH] = f"# {GENERATED_NOTE}\n" + yaml.dump(
        asyncapi_document(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100)
    return files


def stale_files(root: Path = _REPO_ROOT) -> list[str]:
    """Generated files that are missing or differ under `root`, and schema files that no type
    generates any more."""
    return _stale(root, generated_files())


def write_files(root: Path = _REPO_ROOT) -> list[str]:
    """Write every generated file under `root`, remove orphaned schema files; the paths changed."""
    expected = generated_files()
    changed = _stale(root, expected)
    for path in changed:
        target = root / path
        if path in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Generate the contract's JSON Schemas "
                                     "and AsyncAPI document from services/contracts.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the checked-in files are stale")
    parser.add_argument("--root", type=Path, default=_REPO_ROOT, help="the repository root")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        if stale:
            print("The generated contract documents are stale (they no longer match services/contracts):",
                  *(f"  {p}" for p in stale), f"Regenerate them with `{REGENERATE}` and commit the result.",
                  sep="\n", file=sys.stderr)
            return 1
        print("The generated contract documents are up to date.")
        return 0
    changed = write_files(args.root)
    print("\n".join(f"wrote {p}" for p in changed) or "nothing to do: all generated files are up to date")
    return 0


def _stale(root: Path, expected: Mapping[str, str]) -> list[str]:
    stale = [p for p, text in expected.items()
             if not (root / p).is_file() or (root / p).read_text(encoding="utf-8") != text]
    directory = root / SCHEMA_DIR
    if directory.is_dir():
        found = (f"{SCHEMA_DIR}/{p.name}" for p in directory.glob("*.json"))
        stale += [path for path in found if path not in expected]
    return sorted(stale)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: no YAML anchors, so the document reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


if __name__ == "__main__":
    raise SystemExit(main())
