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
from sqlalchemy import bindparam, func, select

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


@dataclass
class Issue:
    """One validation finding, in Chinese, pointing at the element (BPMN/DMN id or form key)."""
    message: str
    element: str | None = None
    file: str = "bpmn"           # bpmn | dmn:<filename> | form:<key>

    def to_dict(self) -> dict:
        return {"message": self.message, "element": self.element, "file": self.file}


class DefinitionError(Exception):
    """Raised with every finding at once; `errors` (strings) for the CLI, `issues` for the browser."""

    def __init__(self, errors: list):
        self.issues = [e if isinstance(e, Issue) else Issue(str(e)) for e in errors]
        self.errors = [i.message for i in self.issues]
        super().__init__("; ".join(self.errors))


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
        found = [p.get("id") for p in root.findall("bpmn:process", NS)]
        have = f"，文件中的流程 id 为 {'、'.join(found)}" if found else "，文件中没有 bpmn:process 元素"
        raise DefinitionError([Issue(f"BPMN 文件中没有 id 为 {process_key} 的流程{have} "
                                     "(process id 必须与流程键/文件名一致)", found[0] if found else None)])
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
    """Parse with a fresh parser (one per version: duplicate ids raise) and validate.

    The one validator: `flask workflows deploy` and the process-admin pages both come here."""
    errors: list[Issue] = []
    try:
        root = etree.fromstring(bundle.bpmn_xml.encode("utf-8"))
    except (etree.XMLSyntaxError, ValueError) as err:
        line = f"第 {err.lineno} 行: " if getattr(err, "lineno", None) else ""
        raise DefinitionError([Issue(f"BPMN 文件不是合法的 XML: {line}{getattr(err, 'msg', err)}")]) from err
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace != NS["bpmn"]:
        raise DefinitionError([Issue("文件不是 BPMN 2.0 流程文件 (根元素应为 bpmn:definitions, "
                                     f"实际为 {etree.QName(root).localname})")])
    unsupported = _unsupported_elements(root)
    if unsupported:
        raise DefinitionError(unsupported)
    info = read_process_info(bundle.bpmn_xml, bundle.process_key)
    for name, xml in bundle.dmn.items():
        errors += _check_dmn_xml(name, xml)
    if errors:
        raise DefinitionError(errors)
    errors += _check_called_decisions(root, bundle)
    if errors:
        raise DefinitionError(errors)
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_str(bundle.bpmn_xml.encode("utf-8"), filename=f"{bundle.process_key}.bpmn")
        for name, xml in bundle.dmn.items():
            parser.add_dmn_str(xml.encode("utf-8"), filename=name)
        spec = parser.get_spec(bundle.process_key)
        subprocess_specs = parser.get_subprocess_specs(bundle.process_key)
    except ValidationException as err:
        element = getattr(err, "id", None) or None
        where = f" (元素 {element})" if element else ""
        detail = getattr(err, "message", None) or str(err)
        raise DefinitionError([Issue(f"流程引擎无法解析该流程{where}: {detail}", element)]) from err
    except Exception as err:  # the parser raises plain errors on some malformed input
        raise DefinitionError([Issue(f"流程引擎无法解析该流程: {type(err).__name__}: {err}")]) from err

    if info.start_form and info.start_form not in bundle.forms:
        errors.append(Issue(f"流程的发起表单 {info.start_form} 不存在", bundle.process_key))
    for role in info.start_roles:
        if role not in ROLES:
            errors.append(Issue(f"流程属性 startRoles 中的角色 {role} 不是已知角色", bundle.process_key))
    for key, schema in bundle.forms.items():
        errors += _check_form(key, schema)
    services = registered_services()
    all_specs = [spec, *subprocess_specs.values()]
    camunda_forms = {el.get("id") for el in root.iter(f"{{{NS['bpmn']}}}userTask")
                     if any(a.endswith("}formKey") for a in el.attrib)}
    for process_spec in all_specs:
        for task_spec in process_spec.task_specs.values():
            errors += _check_task_spec(task_spec, bundle, services, camunda_forms)
    errors += _check_conditions(bundle.bpmn_xml)
    errors += _check_review_panels(bundle, all_specs)
    if errors:
        raise DefinitionError(errors)
    return info, spec, subprocess_specs


def _check_review_panels(bundle: ProcessBundle, specs) -> list[Issue]:
    """A form's `ui.review` (the read-only panel above it, app/cases/panels.py) names user tasks of
    this process and fields of their forms."""
    form_of = {ts.bpmn_id: ((getattr(ts, "extensions", {}) or {}).get("properties", {}) or {}).get("formKey")
               for process_spec in specs for ts in process_spec.task_specs.values()
               if type(ts).__name__ == "UserTask"}
    issues = []
    for key, schema in bundle.forms.items():
        sections = ((schema or {}).get("ui") or {}).get("review") if isinstance(schema, dict) else None
        for section in sections or []:
            step = section.get("step") if isinstance(section, dict) else None
            if step is None:
                continue
            where = f"form:{key}"
            if step not in form_of:
                issues.append(Issue(f"表单 {key} 的审查面板引用的环节 {step} 不是本流程的用户任务", key, where))
                continue
            props = (bundle.forms.get(form_of[step] or "") or {}).get("properties", {})
            for name in section.get("fields") or []:
                if name not in props:
                    issues.append(Issue(f"表单 {key} 的审查面板：环节 {step} 的表单没有字段 {name}", key, where))
    return issues


# Elements the platform cannot run: the engine parses some of them, but nothing here would
# ever deliver a message/signal, show a manual task in an inbox or load a called process.
UNSUPPORTED = {
    "sendTask": "发送任务 (sendTask)",
    "receiveTask": "接收任务 (receiveTask)",
    "manualTask": "手工任务 (manualTask)，请改为用户任务",
    "task": "未指定类型的任务 (bpmn:task)，请改为用户任务、服务任务或脚本任务",
    "callActivity": "调用活动 (callActivity)",
    "complexGateway": "复杂网关 (complexGateway)",
    "transaction": "事务子流程 (transaction)",
    "adHocSubProcess": "自由子流程 (adHocSubProcess)",
    "messageEventDefinition": "消息事件 (messageEventDefinition)",
    "signalEventDefinition": "信号事件 (signalEventDefinition)",
    "conditionalEventDefinition": "条件事件 (conditionalEventDefinition)",
    "compensateEventDefinition": "补偿事件 (compensateEventDefinition)",
    "dataStoreReference": "数据存储 (dataStoreReference)",
}


def _unsupported_elements(root) -> list[Issue]:
    issues = []
    processes = root.findall("bpmn:process", NS)
    executable = [p for p in processes if p.get("isExecutable", "true") != "false"]
    if len(executable) > 1:
        issues.append(Issue(f"文件包含 {len(executable)} 个可执行流程 "
                            f"({', '.join(p.get('id') or '?' for p in executable)})，每个文件只能有一个", None))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        qname = etree.QName(el)
        if qname.namespace == NS["bpmn"] and qname.localname in UNSUPPORTED:
            owner = el if not qname.localname.endswith("EventDefinition") else el.getparent()
            oid = owner.get("id")
            label = owner.get("name") or oid or qname.localname
            issues.append(Issue(f"不支持的元素：{label} ({oid}) 是{UNSUPPORTED[qname.localname]}，本平台无法执行", oid))
    return issues


def _check_dmn_xml(filename: str, xml: str) -> list[Issue]:
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except (etree.XMLSyntaxError, ValueError) as err:
        return [Issue(f"DMN 文件 {filename} 不是合法的 XML: {getattr(err, 'msg', err)}", None, f"dmn:{filename}")]
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace not in DMN_NAMESPACES:
        return [Issue(f"DMN 文件 {filename} 不是 DMN 1.1–1.3 决策文件", None, f"dmn:{filename}")]
    ids = _dmn_decision_ids(xml)
    if len(ids) != 1:
        return [Issue(f"DMN 文件 {filename} 必须恰好包含一个决策 (decision)，实际 {len(ids)} 个", None,
                      f"dmn:{filename}")]
    return []


def _check_called_decisions(root, bundle: ProcessBundle) -> list[Issue]:
    known = {d for xml in bundle.dmn.values() for d in _dmn_decision_ids(xml)}
    issues = []
    for el in root.iter(f"{{{NS['bpmn']}}}businessRuleTask"):
        called = el.find(".//spiffworkflow:calledDecisionId", NS)
        decision = (called.text or "").strip() if called is not None else ""
        label = f"{el.get('name') or el.get('id')} ({el.get('id')})"
        if not decision:
            issues.append(Issue(f"业务规则任务 {label} 未设置决策表 (calledDecisionId)", el.get("id")))
        elif decision not in known:
            issues.append(Issue(f"业务规则任务 {label} 引用的决策表 {decision} 不存在", el.get("id")))
    return issues


def _check_form(key: str, schema) -> list[Issue]:
    where = f"form:{key}"
    if not isinstance(schema, dict):
        return [Issue(f"表单 {key} 必须是 JSON 对象", key, where)]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        path = "/".join(str(p) for p in err.path)
        return [Issue(f"表单 {key} 不是合法的 JSON Schema: {path + ': ' if path else ''}{err.message}", key, where)]
    issues = []
    if schema.get("type", "object") != "object":
        issues.append(Issue(f"表单 {key} 的顶层 type 必须是 object", key, where))
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in props:
            issues.append(Issue(f"表单 {key} 的必填字段 {name} 没有在 properties 中定义", key, where))
    for name in (schema.get("ui") or {}).get("order", []) or []:
        if name not in props:
            issues.append(Issue(f"表单 {key} 的 ui.order 中的字段 {name} 没有在 properties 中定义", key, where))
    for name, spec in props.items():
        if isinstance(spec, dict) and spec.get("enum") and spec.get("ui:enumNames") \
                and len(spec["enum"]) != len(spec["ui:enumNames"]):
            issues.append(Issue(f"表单 {key} 的字段 {name}: ui:enumNames 与 enum 的个数不一致", key, where))
    return issues


def _check_task_spec(ts, bundle: ProcessBundle, services: set[str], camunda_forms=frozenset()) -> list[Issue]:
    errors: list[Issue] = []
    bpmn_id = getattr(ts, "bpmn_id", None)
    label = f"{ts.bpmn_name or ts.bpmn_id} ({ts.bpmn_id})" if bpmn_id else ts.name

    def err(message: str) -> None:
        errors.append(Issue(message, bpmn_id))

    kind = type(ts).__name__
    ext = getattr(ts, "extensions", {}) or {}
    props = ext.get("properties", {}) or {}
    if kind == "UserTask":
        if not ts.lane:
            err(f"用户任务 {label} 不在任何泳道中")
        elif ts.lane not in ROLES:
            err(f"用户任务 {label} 所在泳道 {ts.lane} 不是已知角色")
        form_key = props.get("formKey")
        if not form_key:
            hint = "（检测到 Camunda 的 camunda:formKey，本平台使用 spiffworkflow:property formKey）" \
                if bpmn_id in camunda_forms else ""
            err(f"用户任务 {label} 未设置表单 (formKey){hint}")
        elif form_key not in bundle.forms:
            err(f"用户任务 {label} 引用的表单 {form_key} 不存在")
        if props.get("dueIn"):
            msg = check_expression(props["dueIn"])
            if msg:
                err(f"用户任务 {label} 的期限表达式 dueIn 有误: {msg}")
            else:
                msg = _check_literal_duration(props["dueIn"])
                if msg:
                    err(f"用户任务 {label} 的期限 dueIn {msg}")
        for key in ("candidateRole", "candidateOrg", "candidateUser"):
            if props.get(key) and not props[key].isidentifier():
                err(f"用户任务 {label} 的 {key} 应为流程变量名, 实际为 {props[key]}")
        unknown = [r.strip() for r in (props.get("ccRoles") or "").split(",") if r.strip() and r.strip() not in ROLES]
        if unknown:
            err(f"用户任务 {label} 的抄送角色 ccRoles 含未知角色: {'、'.join(unknown)}")
        for key in ("opinionRequired", "signatureRequired"):
            if props.get(key) and props[key].strip().lower() not in ("true", "false"):
                err(f"用户任务 {label} 的 {key} 只能是 true 或 false, 实际为 {props[key]}")
    elif kind == "ServiceTask":
        if ts.operation_name not in services:
            err(f"服务任务 {label} 调用了未注册的函数 {ts.operation_name}")
        for name, param in ts.operation_params.items():
            msg = check_expression(param["value"])
            if msg:
                err(f"服务任务 {label} 的参数 {name} 有误: {msg}")
    elif kind == "ScriptTask":
        msg = check_script(ts.script or "")
        if msg:
            err(f"脚本任务 {label}: {msg}")
    for script_attr, what in (("prescript", "前置脚本"), ("postscript", "后置脚本")):
        source = getattr(ts, script_attr, None)
        if source:
            msg = check_script(source)
            if msg:
                err(f"{label} 的{what}: {msg}")
    event_definition = getattr(ts, "event_definition", None)
    expression = getattr(event_definition, "expression", None)
    if expression is not None:
        errors += [Issue(m, bpmn_id) for m in _check_timer(label, expression)]
    return errors


def _check_literal_duration(expression: str) -> str | None:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
    stripped = expression.strip()
    if stripped[:1] in "\"'" and stripped[1:2] == "P":
        try:
            TimerEventDefinition.parse_iso_duration(stripped.strip("\"'"))
        except Exception:
            return f"{stripped} 不是合法的 ISO 8601 时长"
    elif stripped[:1] == "P" and stripped[1:2].isdigit():
        return f"{stripped} 必须加引号, 例如 \"P10D\""
    return None


def _check_timer(label: str, expression: str) -> list[str]:
    from datetime import datetime

    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    if not (expression or "").strip():
        return [f"定时器 {label} 没有设置时间表达式"]
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


def _check_conditions(bpmn_xml: str) -> list[Issue]:
    errors = []
    root = etree.fromstring(bpmn_xml.encode("utf-8"))
    for flow in root.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            msg = check_expression(cond.text.strip())
            if msg:
                errors.append(Issue(f"连线 {flow.get('name') or flow.get('id')} ({flow.get('id')}) 的条件有误: {msg}",
                                    flow.get("id")))
    return errors


def deploy_bundle(bundle: ProcessBundle, user_id: int | None = None,
                  skip_if_known: bool = False) -> tuple[ProcessVersion, bool]:
    """Store a new version when the content changed. Returns (version, created).

    skip_if_known (the file-based CLI deploy): content equal to *any* stored version is not
    deployed again, so re-running `flask workflows deploy` with the repository's files does not
    undo a newer version a process admin deployed in the browser."""
    info, spec, subprocess_specs = parse_bundle(bundle)
    digest = bundle.content_hash()
    latest = latest_version(bundle.process_key)
    if latest is not None and latest.content_sha256 == digest:
        return latest, False
    if skip_if_known and latest is not None and db.session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_key == bundle.process_key,
                                            ProcessVersion.content_sha256 == digest).limit(1)):
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


_LATEST = (select(ProcessVersion).where(ProcessVersion.process_key == bindparam("key"))
           .order_by(ProcessVersion.version.desc()).limit(1))


def latest_version(process_key: str) -> ProcessVersion | None:
    return db.session.scalar(_LATEST, {"key": process_key})


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
