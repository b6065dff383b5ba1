"""Deploy the repository's definitions: every process in workflows/ (with its forms) and every
decision table in rules/ (`flask workflows deploy`, the scale generator, tests)."""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from .decisions import deploy_decision_file
from .registry import deploy_bundle, discover_process_keys, load_bundle


def deploy_all(user_id: int | None = None) -> list[tuple[str, int, bool]]:
    """Deploy every process in workflows/ and every decision in rules/; unchanged content is skipped."""
    cfg = current_app.config
    results = []
    for path in sorted(Path(cfg["RULES_DIR"]).glob("*.dmn")):
        version, created = deploy_decision_file(path, user_id)
        results.append((f"rules/{path.name}", version.version, created))
    for key in discover_process_keys(cfg["WORKFLOWS_DIR"]):
        bundle = load_bundle(key, cfg["WORKFLOWS_DIR"], cfg["FORMS_DIR"], cfg["RULES_DIR"])
        version, created = deploy_bundle(bundle, user_id, skip_if_known=True)
        results.append((f"workflows/{key}.bpmn", version.version, created))
    return results
