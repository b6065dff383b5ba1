"""Process definitions as data: parse, validate and deploy BPMN + DMN + forms as versions."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select

from ..core.roles import ROLES
from ..extensions import db
from .models import ProcessVersion
from .scripting import check_expression, check_script
from .serializer import SPEC_CACHE, dump_spec, load_spec
from .services import registered_services

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
DMN_NAMESPACES = [
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
]


@dataclass
class ProcessBundle:
    """Everything one process version is made of, before it is deployed."""
    process_key: str
    bpmn_xml: str
    dmn: dict[str, str] = field(default_factory=dict)      # filename -> xml
    forms: dict[str, dict] = field(default_factory=dict)   # form key -> JSON Schema

    def content_hash(self) -> str:
        canonical = json.dumps({"bpmn": self.bpmn_xml, "dmn": self.dmn, "forms": self.forms},
                               sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class ProcessInfo:
    """Process-level properties read from the BPMN <process> extension elements."""
    name: str
    start_form: str | None
    start_roles: list[str]
    case_no_prefix: str
    properties: dict[str, str]


class DefinitionError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _dmn_decision_ids(xml: str) -> list[str]:
    root = etree.fromstring(xml.encode("utf-8"))
    ids = []
    for ns in DMN_NAMESPACES:
        ids += [el.get("id") for el in root.findall(f"{{{ns}}}decision")]
    return ids


def load_bundle(process_key: str, workflows_dir: str, forms_dir: str, rules_dir: str) -> ProcessBundle:
    bpmn_path = Path(workflows_dir) / f"{process_key}.bpmn"
    bundle = ProcessBundle(process_key, bpmn_path.read_text(encoding="utf-8"))
    form_dir = Path(forms_dir) / process_key
    if form_dir.is_dir():
        for path in sorted(form_dir.glob("*.json")):
            bundle.forms[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    referenced = set(_referenced_decisions(bundle.bpmn_xml))
    for path in sorted(Path(rules_dir).glob("*.dmn")):
        xml = path.read_text(encoding="utf-8")
        if referenced.intersection(_dmn_decision_ids(xml)):
            bundle.dmn[path.name] = xml
    return bundle


def _referenced_decisions(bpmn_xml: str) -> list[str]:
    try:
        root = etree.fromstring(bpmn_xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return []
    return [el.text.strip() for el in root.iter(f"{{{NS['spiffworkflow']}}}calledDecisionId") if el.text]


def discover_process_keys(workflows_dir: str) -> list[str]:
    return sorted(p.stem for p in Path(workflows_dir).glob("*.bpmn"))


def read_process_info(bpmn_xml: str, process_key: str) -> ProcessInfo:
    root = etree.fromstring(bpmn_xml.encode("utf-8"))
    process = root.find(f"bpmn:process[@id='{process_key}']", NS)
    if process is None:
        raise DefinitionError([f"BPMN 文件中没有 id 为 {process_key} 的流程 (process id 必须与文件名一致)"])
    props = {p.get("name"): p.get("value") for p in
             process.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
    return ProcessInfo(
        name=process.get("name") or process_key,
        start_form=props.get("startForm"),
        start_roles=[r.strip() for r in (props.get("startRoles") or "").split(",") if r.strip()],
        case_no_prefix=props.get("caseNoPrefix") or "AJ",
        properties=props,
    )


def parse_bundle(bundle: ProcessBundle):
    """Parse with a fresh parser (one per version: duplicate ids raise) and validate."""
    errors: list[str] = []
    try:
        etree.fromstring(bundle.bpmn_xml.encode("utf-8"))
    except etree.XMLSyntaxError as err:
        raise DefinitionError([f"BPMN 文件不是合法的 XML: 第 {err.lineno} 行: {err.msg}"]) from err
    info = read_process_info(bundle.bpmn_xml, bundle.process_key)
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_str(bundle.bpmn_xml.encode("utf-8"), filename=f"{bundle.process_key}.bpmn")
        for name, xml in bundle.dmn.items():
            parser.add_dmn_str(xml.encode("utf-8"), filename=name)
        spec = parser.get_spec(bundle.process_key)
        subprocess_specs = parser.get_subprocess_specs(bundle.process_key)
    except ValidationException as err:
        where = f" (元素 {err.id})" if getattr(err, "id", None) else ""
        raise DefinitionError([f"流程引擎无法解析该流程{where}: {err}"]) from err
    except Exception as err:  # the parser raises plain errors on some malformed input
        raise DefinitionError([f"流程引擎无法解析该流程: {err}"]) from err

    if info.start_form and info.start_form not in bundle.forms:
        errors.append(f"流程的发起表单 {info.start_form} 不存在")
    for role in info.start_roles:
        if role not in ROLES:
            errors.append(f"流程属性 startRoles 中的角色 {role} 不是已知角色")
    for key, schema in bundle.forms.items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            errors.append(f"表单 {key} 不是合法的 JSON Schema: {err.message}")
    services = registered_services()
    all_specs = [spec, *subprocess_specs.values()]
    for process_spec in all_specs:
        for task_spec in process_spec.task_specs.values():
            errors += _check_task_spec(task_spec, bundle, services)
    errors += _check_conditions(bundle.bpmn_xml)
    if errors:
        raise DefinitionError(errors)
    return info, spec, subprocess_specs


def _check_task_spec(ts, bundle: ProcessBundle, services: set[str]) -> list[str]:
    errors = []
    label = f"{ts.bpmn_name or ts.bpmn_id} ({ts.bpmn_id})" if getattr(ts, "bpmn_id", None) else ts.name
    kind = type(ts).__name__
    ext = getattr(ts, "extensions", {}) or {}
    props = ext.get("properties", {}) or {}
    if kind == "UserTask":
        if not ts.lane:
            errors.append(f"用户任务 {label} 不在任何泳道中")
        elif ts.lane not in ROLES:
            errors.append(f"用户任务 {label} 所在泳道 {ts.lane} 不是已知角色")
        form_key = props.get("formKey")
        if not form_key:
            errors.append(f"用户任务 {label} 未设置表单 (formKey)")
        elif form_key not in bundle.forms:
            errors.append(f"用户任务 {label} 引用的表单 {form_key} 不存在")
        if props.get("dueIn"):
            msg = check_expression(props["dueIn"])
            if msg:
                errors.append(f"用户任务 {label} 的期限表达式 dueIn 有误: {msg}")
    elif kind == "ServiceTask":
        if ts.operation_name not in services:
            errors.append(f"服务任务 {label} 调用了未注册的函数 {ts.operation_name}")
        for name, param in ts.operation_params.items():
            msg = check_expression(param["value"])
            if msg:
                errors.append(f"服务任务 {label} 的参数 {name} 有误: {msg}")
    elif kind == "ScriptTask":
        msg = check_script(ts.script or "")
        if msg:
            errors.append(f"脚本任务 {label}: {msg}")
    for script_attr, what in (("prescript", "前置脚本"), ("postscript", "后置脚本")):
        source = getattr(ts, script_attr, None)
        if source:
            msg = check_script(source)
            if msg:
                errors.append(f"{label} 的{what}: {msg}")
    event_definition = getattr(ts, "event_definition", None)
    expression = getattr(event_definition, "expression", None)
    if expression is not None:
        errors += _check_timer(label, expression)
    return errors


def _check_timer(label: str, expression: str) -> list[str]:
    from datetime import datetime

    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    msg = check_expression(expression)
    if msg:
        return [f"定时器 {label} 的表达式有误: {msg}"]
    stripped = expression.strip()
    if stripped[:1] in "\"'":
        value = stripped.strip("\"'")
        try:
            if value.startswith("P"):
                TimerEventDefinition.parse_iso_duration(value)
            elif value.startswith("R"):
                TimerEventDefinition.parse_iso_recurring_interval(value)
            else:
                datetime.fromisoformat(value)
        except Exception:
            return [f"定时器 {label} 的时间 {value} 不是合法的 ISO 8601 时间/时长"]
    elif stripped[:1] == "P" or stripped[:1].isdigit():
        return [f"定时器 {label} 的时间 {stripped} 必须加引号, 例如 \"P10D\""]
    return []


def _check_conditions(bpmn_xml: str) -> list[str]:
    errors = []
    root = etree.fromstring(bpmn_xml.encode("utf-8"))
    for flow in root.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            msg = check_expression(cond.text.strip())
            if msg:
                errors.append(f"连线 {flow.get('name') or flow.get('id')} ({flow.get('id')}) 的条件有误: {msg}")
    return errors


def deploy_bundle(bundle: ProcessBundle, user_id: int | None = None) -> tuple[ProcessVersion, bool]:
    """Store a new version when the content changed. Returns (version, created)."""
    info, spec, subprocess_specs = parse_bundle(bundle)
    digest = bundle.content_hash()
    latest = latest_version(bundle.process_key)
    if latest is not None and latest.content_sha256 == digest:
        return latest, False
    number = (db.session.scalar(select(func.max(ProcessVersion.version))
                                .where(ProcessVersion.process_key == bundle.process_key)) or 0) + 1
    version = ProcessVersion(
        process_key=bundle.process_key, version=number, name=info.name, bpmn_xml=bundle.bpmn_xml,
        dmn_json=json.dumps(bundle.dmn, ensure_ascii=False),
        forms_json=json.dumps(bundle.forms, ensure_ascii=False),
        spec_json=dump_spec(spec, subprocess_specs), content_sha256=digest, deployed_by_id=user_id)
    db.session.add(version)
    db.session.flush()
    SPEC_CACHE[version.id] = (spec, subprocess_specs, digest)
    return version, True


def latest_version(process_key: str) -> ProcessVersion | None:
    return db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == process_key)
                             .order_by(ProcessVersion.version.desc()).limit(1))


def latest_versions() -> list[ProcessVersion]:
    newest = (select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_key).subquery())
    return list(db.session.scalars(
        select(ProcessVersion).join(newest, (ProcessVersion.process_key == newest.c.process_key)
                                    & (ProcessVersion.version == newest.c.v))
        .order_by(ProcessVersion.process_key)))


def _cached(cache: dict, version: ProcessVersion, build):
    """Per-worker caches keyed by version id, checked against the content hash
    (ids are reused when a test database is rebuilt)."""
    entry = cache.get(version.id)
    if entry is None or entry[-1] != version.content_sha256:
        entry = (*build(), version.content_sha256)
        cache[version.id] = entry
    return entry[:-1]


def ensure_spec_loaded(version: ProcessVersion):
    return _cached(SPEC_CACHE, version, lambda: load_spec(version.spec_json))


_FORMS_CACHE: dict[int, tuple] = {}
_INFO_CACHE: dict[int, tuple] = {}


def version_forms(version: ProcessVersion) -> dict[str, dict]:
    return _cached(_FORMS_CACHE, version, lambda: (json.loads(version.forms_json),))[0]


def version_info(version: ProcessVersion) -> ProcessInfo:
    return _cached(_INFO_CACHE, version,
                   lambda: (read_process_info(version.bpmn_xml, version.process_key),))[0]
