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
    return complete_document(doc)


# The responses every operation may give because of the request guard (app/api/guard.py) and the
# security hooks (app/security): added where an operation does not list them already.
_GUARD_EXAMPLES = {
    "bad_request": ("400", "请求中含有 NUL 控制字符", "请求中含有不允许的控制字符（NUL），请检查输入内容"),
    "bad_json": ("400", "请求体不是合法 JSON、嵌套过深或含无效字符", "JSON 嵌套层数超过 32 层"),
    "payload_too_large": ("413", "请求体超过上限（JSON 默认 1 MB）", "请求体超过 1024 KB 上限（上传文件请使用 multipart/form-data）"),
    "validation_failed": ("422", "参数或字段类型不合格（逐字段中文提示）", "提交的数据有误，请按提示修改"),
}
_GUARD_DESCRIPTIONS = {"400": "请求格式不正确", "413": "请求体过大", "422": "参数不合格"}


def _add_example(op: dict, code: str) -> None:
    status, summary, message = _GUARD_EXAMPLES[code]
    response = op.setdefault("responses", {}).setdefault(status, {"description": _GUARD_DESCRIPTIONS[status]})
    media = response.setdefault("content", {}).setdefault(
        "application/json", {"schema": {"$ref": "#/components/schemas/Error"}})
    examples = media.setdefault("examples", {})
    if "example" in media:          # a single example becomes one of several
        examples.setdefault("example", {"value": media.pop("example")})
    if any(isinstance(ex, dict) and ex.get("value", {}).get("error", {}).get("code") == code
           for ex in examples.values()):
        return
    value = {"error": {"code": code, "message": message}}
    if code == "validation_failed":
        value["error"]["fields"] = {"state": "取值无效，可选：unread"}
    examples[f"guard_{code}"] = {"summary": summary, "value": value}


def complete_document(doc: dict) -> dict:
    """List on every /api/v1 operation the statuses the request guard gives (see _GUARD_EXAMPLES)."""
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch") or not isinstance(op, dict):
                continue
            if path == "/api/v1/openapi.json":
                continue      # the document itself: nothing a caller sends
            _add_example(op, "bad_request")
            if method != "get":
                _add_example(op, "payload_too_large")
                _add_example(op, "bad_json")
            if checked_query_parameters(doc, path, method) or body_properties(doc, path, method):
                _add_example(op, "validation_failed")
    return doc


@lru_cache(maxsize=1)
def _cached() -> dict:
    return build_document()


def served_document() -> dict:
    """The merged, completed document; shared — never alter it (api_document() gives a copy)."""
    return _cached()


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


# ---------------------------------------------------------------- reading an operation

def _resolve(doc: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def checked_query_parameters(doc: dict, path: str, method: str) -> dict[str, dict]:
    """The query parameters of an operation whose values the request guard (app/api/guard.py) checks, by name → schema."""
    item = doc.get("paths", {}).get(path, {})
    op = item.get(method)
    if not isinstance(op, dict):
        return {}
    found = {}
    for param in item.get("parameters", []) + op.get("parameters", []):
        param = _resolve(doc, param)
        if param.get("in") != "query":
            continue
        schema = _resolve(doc, param.get("schema", {}))
        if "enum" in schema or schema.get("type") == "integer" or schema.get("format") == "date":
            found[param["name"]] = schema
    return found


def body_properties(doc: dict, path: str, method: str) -> dict[str, dict]:
    """Top-level properties of an operation's JSON request body (with allOf parts), name → schema."""
    op = doc.get("paths", {}).get(path, {}).get(method)
    if not isinstance(op, dict):
        return {}
    body = _resolve(doc, op.get("requestBody", {}))
    schema = _resolve(doc, body.get("content", {}).get("application/json", {}).get("schema", {}))
    props: dict = {}
    for part in [schema] + [_resolve(doc, p) for p in schema.get("allOf", [])]:
        for name, prop in part.get("properties", {}).items():
            props[name] = _resolve(doc, prop)
    return props
