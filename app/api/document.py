"""The served OpenAPI document: docs/openapi.json (the platform's core operations) merged with one
fragment per domain in docs/openapi.d/*.json. A fragment holds `tags`, `paths` and `components`
sections in the same form as the main document; a name defined twice is an error, never an override."""
from __future__ import annotations

import copy
import json
import pathlib
from functools import lru_cache

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


class DocumentConflict(ValueError):
    pass


def merge_fragment(doc: dict, fragment: dict, name: str) -> None:
    known_tags = {t["name"] for t in doc.get("tags", [])}
    for tag in fragment.get("tags", []):
        if tag["name"] in known_tags:
            raise DocumentConflict(f"{name}: tag {tag['name']} is already defined")
        doc.setdefault("tags", []).append(tag)
        known_tags.add(tag["name"])
    for path, item in fragment.get("paths", {}).items():
        if path in doc["paths"]:
            raise DocumentConflict(f"{name}: path {path} is already defined")
        doc["paths"][path] = item
    for section, entries in fragment.get("components", {}).items():
        target = doc.setdefault("components", {}).setdefault(section, {})
        for key, value in entries.items():
            if key in target:
                raise DocumentConflict(f"{name}: components/{section}/{key} is already defined")
            target[key] = value


def build_document(docs_dir: pathlib.Path = DOCS) -> dict:
    doc = json.loads((docs_dir / "openapi.json").read_text(encoding="utf-8"))
    fragments = docs_dir / "openapi.d"
    if fragments.is_dir():
        for path in sorted(fragments.glob("*.json")):
            merge_fragment(doc, json.loads(path.read_text(encoding="utf-8")), path.name)
    return doc


@lru_cache(maxsize=1)
def _cached() -> dict:
    return build_document()


def api_document() -> dict:
    """The merged document (a copy: callers may not alter the cached one)."""
    return copy.deepcopy(_cached())


def reference_text(docs_dir: pathlib.Path = DOCS) -> str:
    """docs/接口说明.md followed by the per-domain sections in docs/接口说明.d/*.md."""
    parts = [(docs_dir / "接口说明.md").read_text(encoding="utf-8")]
    extra = docs_dir / "接口说明.d"
    if extra.is_dir():
        parts += [p.read_text(encoding="utf-8") for p in sorted(extra.glob("*.md"))]
    return "\n".join(parts)
