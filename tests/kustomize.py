"""A small Kustomize renderer for the tests: the subset deploy/kubernetes uses, nothing more.

`kubectl kustomize` is not on every machine that runs the tests, so the manifests are rendered here
(resources, namespace, images, JSON 6902 patches with a kind/name target and an equality-based
label selector, `key=value[,key=value]`). A kustomization using any
other field is refused, so the tests never silently check something else than what kubectl would
apply; where kubectl is installed, a test compares the two renderings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SUPPORTED_FIELDS", "build", "containers", "pod_spec"]

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "namespace", "resources", "images", "patches"})


def build(directory: Path) -> list[dict[str, Any]]:
    """The resources `kubectl kustomize directory` would print (order aside)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise ValueError(f"{directory}: kustomization fields this renderer does not know: {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs.extend(build(path))
        else:
            docs.extend(copy.deepcopy(d) for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        unknown_keys = set(target) - {"kind", "name", "labelSelector"}
        if unknown_keys:
            raise ValueError(f"{directory}: patch target fields this renderer does not know: {unknown_keys}")
        wanted = _equality_selector(target.get("labelSelector", ""))
        matched = [d for d in docs if d["kind"] == target["kind"]
                   and target.get("name", d["metadata"]["name"]) == d["metadata"]["name"]
                   and wanted.items() <= d["metadata"].get("labels", {}).items()]
        if not matched:
            raise ValueError(f"{directory}: patch target {target} matches nothing")
        for doc in matched:
            for op in yaml.safe_load(patch["patch"]):
                _apply(doc, op)
    for image in kustomization.get("images", []):
        for doc in docs:
            for container in containers(doc):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in docs:
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = namespace
    return docs


def _equality_selector(selector: str) -> dict[str, str]:
    """`a=b,c=d` as {a: b, c: d}; any other selector syntax (!=, in, notin, exists) is refused."""
    terms: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, equals, value = term.partition("=")
        if not equals or "!" in key or value.startswith("=") or " " in term:
            raise ValueError(f"label selector term this renderer does not know: {term!r}")
        terms[key] = value
    return terms


def _apply(doc: dict[str, Any], op: dict[str, Any]) -> None:
    if op["op"] not in ("replace", "add"):
        raise ValueError(f"unsupported patch operation {op['op']}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = op["value"]
    else:
        if op["op"] == "replace" and last not in node:
            raise ValueError(f"replace of a missing path {op['path']}")
        node[last] = op["value"]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "CronJob":
        job: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return job
    return None


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]
