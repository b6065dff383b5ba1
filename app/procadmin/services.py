"""Process administration: drafts, validation, deployment, version diff, case migration.

Every write goes through record_change() (one place to also feed the security audit log later).
Validation is the engine's own (engine.registry.parse_bundle / engine.decisions._parse): the same
rules as `flask workflows deploy`, no second copy."""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import func, or_, select

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.gm import sm3_hex
from ..core.models import User
from ..core.params import contains
from ..engine import decisions, runtime
from ..engine.models import DecisionVersion, ProcessVersion
from ..engine.registry import (DMN_NAMESPACES, NS, DefinitionError, Issue, ProcessBundle, deploy_bundle, parse_bundle)
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .models import ProcessChange, ProcessDraft

ROLE = "process_admin"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
FORM_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def require_process_admin(user) -> None:
    if not getattr(user, "is_authenticated", False) or user.role != ROLE:
        raise Forbidden("仅流程管理员可以使用流程管理功能")


# ---------------------------------------------------------------- change record

def content_sm3(content) -> str:
    if isinstance(content, (dict, list)):
        content = json.dumps(content, ensure_ascii=False, sort_keys=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    return sm3_hex(content)


def record_change(actor: User | None, action: str, kind: str, key: str, obj: str, summary: str, *,
                  content=None, version: int | None = None, draft_id: int | None = None,
                  case_id: int | None = None) -> ProcessChange:
    """The one writer of the process-change record (who, when, what, SM3 of the content)."""
    row = ProcessChange(at=utcnow(), actor_id=actor.id if actor else None, action=action, kind=kind, key=key,
                        object=obj[:200], summary=summary[:500], version=version, draft_id=draft_id,
                        case_id=case_id, content_sm3=content_sm3(content) if content is not None else None)
    db.session.add(row)
    from ..security.audit import audit    # the platform's security audit log gets every change too
    audit("config.change", f"流程管理：{summary}"[:300], object_type=f"process_{kind}", object_id=f"{key}:{obj}"[:64],
          actor=actor, detail={"action": action, "version": version, "draft_id": draft_id, "case_id": case_id,
                               "content_sm3": row.content_sm3})
    return row


def changes(key: str | None = None, action: str | None = None, page: int = 1, per_page: int = 30):
    query = select(ProcessChange)
    if key:
        query = query.where(ProcessChange.key == key)
    if action:
        query = query.where(ProcessChange.action == action)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(ProcessChange.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


# ---------------------------------------------------------------- overview

@dataclass
class VersionRow:
    version: ProcessVersion
    running: int
    closed: int
    deployed_by: str


def _user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {uid: name for uid, name in db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))}


def process_overview(q: str | None = None) -> list[dict]:
    """Every process: its versions (who/when/hash) with running and finished case counts."""
    counts: dict[tuple[int, str], int] = {}
    for version_id, status, n in db.session.execute(
            select(Case.process_version_id, Case.status, func.count()).group_by(Case.process_version_id, Case.status)):
        counts[(version_id, status)] = n
    query = select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version.desc())
    if q:
        query = query.where(or_(contains(ProcessVersion.process_key, q), contains(ProcessVersion.name, q)))
    all_versions = list(db.session.scalars(query))
    names = _user_names(v.deployed_by_id for v in all_versions)
    drafts = {d.key: d for d in db.session.scalars(select(ProcessDraft).where(
        ProcessDraft.kind == "process", ProcessDraft.status.in_(("unchecked", "valid", "invalid"))))}
    out: dict[str, dict] = {}
    for v in all_versions:
        entry = out.setdefault(v.process_key, {"key": v.process_key, "name": v.name, "versions": [],
                                               "draft": drafts.get(v.process_key)})
        entry["versions"].append(VersionRow(v, counts.get((v.id, "running"), 0),
                                            counts.get((v.id, "closed"), 0) + counts.get((v.id, "cancelled"), 0),
                                            names.get(v.deployed_by_id, "系统部署（命令行）")))
    if not q:
        for key, draft in drafts.items():   # new processes that exist only as a draft so far
            out.setdefault(key, {"key": key, "name": key, "versions": [], "draft": draft})
    return sorted(out.values(), key=lambda e: e["key"])


def get_version(key: str, number: int) -> ProcessVersion:
    version = db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == key,
                                                             ProcessVersion.version == number))
    if version is None:
        raise NotFound(f"流程 {key} 没有版本 v{number}")
    return version


def latest(key: str) -> ProcessVersion | None:
    return db.session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == key)
                             .order_by(ProcessVersion.version.desc()).limit(1))


def decision_overview() -> list[dict]:
    all_versions = list(db.session.scalars(select(DecisionVersion).order_by(DecisionVersion.decision_id,
                                                                            DecisionVersion.version.desc())))
    names = _user_names(v.deployed_by_id for v in all_versions)
    drafts = {d.key: d for d in db.session.scalars(select(ProcessDraft).where(
        ProcessDraft.kind == "decision", ProcessDraft.status.in_(("unchecked", "valid", "invalid"))))}
    out: dict[str, dict] = {}
    for v in all_versions:
        entry = out.setdefault(v.decision_id, {"key": v.decision_id, "name": v.name, "filename": v.filename,
                                               "versions": [], "draft": drafts.get(v.decision_id)})
        entry["versions"].append((v, names.get(v.deployed_by_id, "系统部署（命令行）")))
    return sorted(out.values(), key=lambda e: e["key"])


def get_decision_version(key: str, number: int) -> DecisionVersion:
    version = db.session.scalar(select(DecisionVersion).where(DecisionVersion.decision_id == key,
                                                              DecisionVersion.version == number))
    if version is None:
        raise NotFound(f"决策表 {key} 没有版本 v{number}")
    return version


# ---------------------------------------------------------------- bundles and drafts

def version_bundle(version: ProcessVersion) -> ProcessBundle:
    return ProcessBundle(version.process_key, version.bpmn_xml, json.loads(version.dmn_json),
                         json.loads(version.forms_json))


def draft_bundle(draft: ProcessDraft) -> ProcessBundle:
    return ProcessBundle(draft.key, draft.bpmn_xml, json.loads(draft.dmn_json), json.loads(draft.forms_json))


def _draft_content(draft: ProcessDraft) -> str:
    return json.dumps({"bpmn": draft.bpmn_xml, "dmn": json.loads(draft.dmn_json),
                       "forms": json.loads(draft.forms_json)}, ensure_ascii=False, sort_keys=True)


def open_draft(kind: str, key: str) -> ProcessDraft | None:
    return db.session.scalar(select(ProcessDraft).where(
        ProcessDraft.kind == kind, ProcessDraft.key == key,
        ProcessDraft.status.in_(("unchecked", "valid", "invalid"))).order_by(ProcessDraft.id.desc()).limit(1))


def get_draft(draft_id: int) -> ProcessDraft:
    draft = db.session.get(ProcessDraft, draft_id)
    if draft is None:
        raise NotFound("草稿不存在")
    return draft


def start_draft(kind: str, key: str, user: User, from_version: int | None = None) -> ProcessDraft:
    """The open draft of a process/decision, or a new one copied from a deployed version (default: latest)."""
    draft = open_draft(kind, key)
    if draft is not None and from_version is None:
        return draft
    if draft is not None:
        raise Conflict(f"{key} 已有未部署的草稿（#{draft.id}），请先部署或放弃该草稿", code="draft_exists")
    if kind == "process":
        version = get_version(key, from_version) if from_version else latest(key)
        if version is None:
            raise NotFound(f"流程 {key} 不存在")
        draft = ProcessDraft(kind=kind, key=key, base_version=version.version, bpmn_xml=version.bpmn_xml,
                             dmn_json=version.dmn_json, forms_json=version.forms_json)
    else:
        version = get_decision_version(key, from_version) if from_version else decisions._latest(key)
        if version is None:
            raise NotFound(f"决策表 {key} 不存在")
        draft = ProcessDraft(kind=kind, key=key, base_version=version.version, bpmn_xml="", forms_json="{}",
                             dmn_json=json.dumps({version.filename: version.dmn_xml}, ensure_ascii=False))
    draft.created_by_id = draft.updated_by_id = user.id
    draft.created_at = draft.updated_at = utcnow()
    _validate_into(draft)
    db.session.add(draft)
    db.session.flush()
    return draft


def validate(draft: ProcessDraft) -> list[Issue]:
    """The engine's validation of a draft: [] when it could be deployed."""
    try:
        if draft.kind == "process":
            parse_bundle(draft_bundle(draft))
        else:
            (filename, xml), = json.loads(draft.dmn_json).items()
            decision_id, _, _ = decisions._parse(xml, filename)
            if decision_id != draft.key:
                return [Issue(f"决策 id 为 {decision_id}，应与决策表键 {draft.key} 一致（应用代码按 id 调用）",
                              decision_id, f"dmn:{filename}")]
    except DefinitionError as err:
        return err.issues
    return []


def _validate_into(draft: ProcessDraft) -> list[Issue]:
    issues = validate(draft)
    draft.status = "invalid" if issues else "valid"
    draft.issues_json = json.dumps([i.to_dict() for i in issues], ensure_ascii=False) if issues else None
    draft.content_sm3 = content_sm3(_draft_content(draft))
    return issues


def draft_issues(draft: ProcessDraft) -> list[dict]:
    return json.loads(draft.issues_json) if draft.issues_json else []


def _editable(draft: ProcessDraft) -> None:
    if draft.status in ("deployed", "discarded"):
        raise Conflict(f"草稿 #{draft.id} {draft.status_label}，不能再修改", code="draft_closed")


def save_draft(draft: ProcessDraft, user: User, *, bpmn_xml: str | None = None, forms: dict | None = None,
               dmn: dict | None = None, action: str = "save", obj: str | None = None) -> list[Issue]:
    """Store new content whatever its validity (an invalid draft stays a draft), validate, record."""
    _editable(draft)
    if bpmn_xml is not None:
        if not isinstance(bpmn_xml, str) or not bpmn_xml.strip():
            raise ValidationFailed({"bpmn_xml": "流程图内容不能为空"})
        draft.bpmn_xml = bpmn_xml
    if forms is not None:
        bad = [k for k in forms if not FORM_KEY_RE.match(str(k))]
        if bad:
            raise ValidationFailed({"forms": f"表单键 {bad[0]} 无效：只能用字母、数字和下划线，以字母开头"})
        draft.forms_json = json.dumps(forms, ensure_ascii=False)
    if dmn is not None:
        draft.dmn_json = json.dumps(dmn, ensure_ascii=False)
    draft.updated_by_id = user.id
    draft.updated_at = utcnow()
    issues = _validate_into(draft)
    db.session.flush()
    what = obj or (f"{draft.key}.bpmn" if draft.kind == "process" else f"决策表 {draft.key}")
    record_change(user, action, draft.kind, draft.key, what,
                  f"草稿 #{draft.id}：{what}，校验{'未通过（' + str(len(issues)) + ' 项问题）' if issues else '通过'}",
                  content=_draft_content(draft), draft_id=draft.id)
    return issues


def save_form(draft: ProcessDraft, user: User, form_key: str, schema_text: str) -> list[Issue]:
    if draft.kind != "process":
        raise DomainError("决策表草稿没有表单", code="bad_request")
    if not FORM_KEY_RE.match(form_key or ""):
        raise ValidationFailed({"form_key": "表单键只能用字母、数字和下划线，以字母开头"})
    try:
        schema = json.loads(schema_text)
    except (TypeError, ValueError) as err:
        raise ValidationFailed({"schema": f"不是合法的 JSON：第 {getattr(err, 'lineno', '?')} 行 "
                                          f"第 {getattr(err, 'colno', '?')} 列 {getattr(err, 'msg', err)}"}) from err
    if not isinstance(schema, dict):
        raise ValidationFailed({"schema": "表单必须是 JSON 对象"})
    forms = json.loads(draft.forms_json)
    forms[form_key] = schema
    return save_draft(draft, user, forms=forms, obj=f"表单 {form_key}")


def delete_form(draft: ProcessDraft, user: User, form_key: str) -> list[Issue]:
    forms = json.loads(draft.forms_json)
    if form_key not in forms:
        raise NotFound(f"表单 {form_key} 不存在")
    del forms[form_key]
    return save_draft(draft, user, forms=forms, obj=f"删除表单 {form_key}")


def discard_draft(draft: ProcessDraft, user: User) -> None:
    _editable(draft)
    draft.status = "discarded"
    draft.updated_by_id, draft.updated_at = user.id, utcnow()
    record_change(user, "discard", draft.kind, draft.key, f"草稿 #{draft.id}", f"放弃草稿 #{draft.id}",
                  content=_draft_content(draft), draft_id=draft.id)


def deploy_draft(draft: ProcessDraft, user: User):
    """Deploy a valid draft as a new version; an invalid one is refused and nothing is stored."""
    _editable(draft)
    issues = _validate_into(draft)
    if issues:
        db.session.flush()
        raise DomainError(f"校验未通过（{len(issues)} 项问题），草稿未部署", code="invalid_definition",
                          fields={"issues": [i.to_dict() for i in issues]}, status=422)
    if draft.kind == "process":
        version, created = deploy_bundle(draft_bundle(draft), user.id)
        digest = version.content_sha256
    else:
        (filename, xml), = json.loads(draft.dmn_json).items()
        version, created = decisions.deploy_decision_xml(xml, filename, user.id)
        digest = version.content_sha256
    if not created:
        raise Conflict(f"草稿内容与当前最新版本 v{version.version} 相同，没有产生新版本", code="unchanged")
    draft.status, draft.deployed_version = "deployed", version.version
    draft.updated_by_id, draft.updated_at = user.id, utcnow()
    record_change(user, "deploy", draft.kind, draft.key, f"{draft.key} v{version.version}",
                  f"由草稿 #{draft.id} 部署为 v{version.version}（内容 SHA-256 {digest[:12]}…）",
                  content=_draft_content(draft), version=version.version, draft_id=draft.id)
    db.session.flush()
    return version


# ---------------------------------------------------------------- upload / download

def _sniff(data: bytes):
    """What a file is, by its content: ('bpmn'|'dmn', root) for XML, ('json', obj) for JSON."""
    head = data.lstrip()[:1]
    if head == b"<":
        try:
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as err:
            raise ValidationFailed({"file": f"文件不是合法的 XML：第 {err.lineno} 行 {err.msg}"}) from err
        qname = etree.QName(root)
        if qname.localname == "definitions" and qname.namespace == NS["bpmn"]:
            return "bpmn", root
        if qname.localname == "definitions" and qname.namespace in DMN_NAMESPACES:
            return "dmn", root
        raise ValidationFailed({"file": f"XML 文件既不是 BPMN 2.0 也不是 DMN（根元素 {qname.localname}，"
                                        f"命名空间 {qname.namespace or '无'}）"})
    if head in (b"{", b"["):
        try:
            return "json", json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ValidationFailed({"file": f"JSON 文件无法解析：{err}"}) from err
    raise ValidationFailed({"file": "只能上传 BPMN（.bpmn）、DMN（.dmn）或表单（.json）文件：文件内容不是 XML 或 JSON"})


def read_upload(storage) -> tuple[str, str, bytes]:
    if storage is None or not storage.filename:
        raise ValidationFailed({"file": "请选择要上传的文件"})
    data = storage.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed({"file": "文件超过 2 MB"})
    if not data.strip():
        raise ValidationFailed({"file": "文件是空的"})
    kind, _ = _sniff(data)
    return kind, storage.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1], data


def upload_new_process(storage, user: User) -> ProcessDraft:
    """A .bpmn file made elsewhere becomes the draft of the process its <process id> names."""
    kind, filename, data = read_upload(storage)
    if kind != "bpmn":
        raise ValidationFailed({"file": "新建流程请上传 BPMN 文件（.bpmn）"})
    root = etree.fromstring(data)
    ids = [p.get("id") for p in root.findall("bpmn:process", NS)]
    if len(ids) != 1:
        raise ValidationFailed({"file": f"BPMN 文件应恰好包含一个流程 (bpmn:process)，实际 {len(ids)} 个"})
    key = ids[0] or ""
    if not KEY_RE.match(key):
        raise ValidationFailed({"file": f"流程 id “{key}” 不能作为流程键：只能用小写字母、数字和下划线，以字母开头"
                                        "（请在建模工具中修改流程的 id）"})
    draft = open_draft("process", key)
    if draft is None:
        if latest(key) is not None:
            draft = start_draft("process", key, user)
        else:
            draft = ProcessDraft(kind="process", key=key, base_version=None, bpmn_xml="", dmn_json="{}",
                                 forms_json="{}", created_by_id=user.id, updated_by_id=user.id,
                                 created_at=utcnow(), updated_at=utcnow(), content_sm3="")
            db.session.add(draft)
            db.session.flush()
    save_draft(draft, user, bpmn_xml=data.decode("utf-8"), action="upload", obj=filename)
    return draft


def upload_into_draft(draft: ProcessDraft, storage, user: User) -> list[Issue]:
    kind, filename, data = read_upload(storage)
    text = data.decode("utf-8", errors="strict") if kind != "json" else None
    if draft.kind == "decision":
        if kind != "dmn":
            raise ValidationFailed({"file": "决策表只能上传 DMN 文件（.dmn）"})
        (old_name, _), = json.loads(draft.dmn_json).items()
        return save_draft(draft, user, dmn={old_name: text}, action="upload", obj=filename)
    if kind == "bpmn":
        return save_draft(draft, user, bpmn_xml=text, action="upload", obj=filename)
    if kind == "dmn":
        dmn = json.loads(draft.dmn_json)
        name = filename if filename.endswith(".dmn") else f"{filename}.dmn"
        dmn[name] = text
        return save_draft(draft, user, dmn=dmn, action="upload", obj=name)
    _, schema = _sniff(data)
    key = filename[:-5] if filename.endswith(".json") else filename
    if not FORM_KEY_RE.match(key):
        raise ValidationFailed({"file": f"表单文件名 {filename} 无效：文件名（不含 .json）就是表单键，"
                                        "只能用字母、数字和下划线"})
    if not isinstance(schema, dict):
        raise ValidationFailed({"file": "表单文件必须是 JSON 对象"})
    forms = json.loads(draft.forms_json)
    forms[key] = schema
    return save_draft(draft, user, forms=forms, action="upload", obj=filename)


def bundle_zip(key: str, bpmn_xml: str, dmn: dict, forms: dict) -> bytes:
    """The repository layout (workflows/, forms/<key>/, rules/), to keep in version control."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"workflows/{key}.bpmn", bpmn_xml)
        for name, xml in sorted(dmn.items()):
            zf.writestr(f"rules/{name}", xml)
        for form_key, schema in sorted(forms.items()):
            zf.writestr(f"forms/{key}/{form_key}.json", json.dumps(schema, ensure_ascii=False, indent=2) + "\n")
    return buf.getvalue()


# ---------------------------------------------------------------- diff

TYPE_LABELS = {
    "userTask": "用户任务", "serviceTask": "服务任务", "scriptTask": "脚本任务", "businessRuleTask": "业务规则任务",
    "startEvent": "开始事件", "endEvent": "结束事件", "boundaryEvent": "边界事件",
    "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件",
    "exclusiveGateway": "排他网关", "parallelGateway": "并行网关", "inclusiveGateway": "包容网关",
    "eventBasedGateway": "事件网关", "sequenceFlow": "连线", "lane": "泳道", "subProcess": "子流程",
    "process": "流程",
}


def _describe(el) -> dict:
    """The comparable facts of one BPMN element."""
    facts: dict[str, str] = {}
    if el.get("name"):
        facts["名称"] = el.get("name")
    for attr in ("sourceRef", "targetRef", "default", "attachedToRef", "cancelActivity"):
        if el.get(attr) is not None:
            facts[attr] = el.get(attr)
    for prop in el.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
        facts[f"属性 {prop.get('name')}"] = prop.get("value") or ""
    op = el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
    if op is not None:
        facts["服务函数"] = op.get("id") or ""
        for p in op.findall("spiffworkflow:parameters/spiffworkflow:parameter", NS):
            facts[f"参数 {p.get('id')}"] = p.get("value") or ""
    cond = el.find("bpmn:conditionExpression", NS)
    if cond is not None:
        facts["条件"] = (cond.text or "").strip()
    script = el.find("bpmn:script", NS)
    if script is not None:
        facts["脚本"] = (script.text or "").strip()
    timer = el.find("bpmn:timerEventDefinition", NS)
    if timer is not None:
        for part in ("timeDate", "timeDuration", "timeCycle"):
            node = timer.find(f"bpmn:{part}", NS)
            if node is not None:
                facts[f"定时器 {part}"] = (node.text or "").strip()
    for kind in ("terminateEventDefinition", "errorEventDefinition", "escalationEventDefinition"):
        if el.find(f"bpmn:{kind}", NS) is not None:
            facts["事件类型"] = kind
    called = el.find(".//spiffworkflow:calledDecisionId", NS)
    if called is not None:
        facts["决策表"] = (called.text or "").strip()
    return facts


def bpmn_elements(xml: str) -> dict[str, dict]:
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except (etree.XMLSyntaxError, ValueError):
        return {}
    lanes = {}
    for lane in root.iter(f"{{{NS['bpmn']}}}lane"):
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    out = {}
    for process in root.findall("bpmn:process", NS):
        for el in process.iter():
            if not isinstance(el.tag, str) or not el.get("id"):
                continue
            qname = etree.QName(el)
            if qname.namespace != NS["bpmn"] or qname.localname in ("laneSet", "process") \
                    or qname.localname.endswith("EventDefinition") or qname.localname == "conditionExpression":
                continue
            facts = _describe(el)
            if el.get("id") in lanes:
                facts["泳道"] = lanes[el.get("id")]
            out[el.get("id")] = {"id": el.get("id"), "type": qname.localname,
                                 "type_label": TYPE_LABELS.get(qname.localname, qname.localname),
                                 "name": el.get("name") or "", "facts": facts}
    return out


def _form_fields(schema: dict) -> dict[str, str]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return {name: json.dumps(spec, ensure_ascii=False, sort_keys=True) for name, spec in props.items()}


def diff_bundles(old: ProcessBundle, new: ProcessBundle) -> dict:
    a, b = bpmn_elements(old.bpmn_xml), bpmn_elements(new.bpmn_xml)
    added = [b[i] for i in sorted(set(b) - set(a))]
    removed = [a[i] for i in sorted(set(a) - set(b))]
    changed = []
    for i in sorted(set(a) & set(b)):
        if a[i]["facts"] != b[i]["facts"] or a[i]["type"] != b[i]["type"]:
            keys = sorted(set(a[i]["facts"]) | set(b[i]["facts"]))
            details = [{"what": k, "old": a[i]["facts"].get(k, "—"), "new": b[i]["facts"].get(k, "—")}
                       for k in keys if a[i]["facts"].get(k) != b[i]["facts"].get(k)]
            if a[i]["type"] != b[i]["type"]:
                details.insert(0, {"what": "类型", "old": a[i]["type_label"], "new": b[i]["type_label"]})
            changed.append({**b[i], "details": details})
    forms = []
    for key in sorted(set(old.forms) | set(new.forms)):
        if key not in new.forms:
            forms.append({"key": key, "change": "删除", "details": []})
        elif key not in old.forms:
            forms.append({"key": key, "change": "新增", "details": []})
        elif old.forms[key] != new.forms[key]:
            fa, fb = _form_fields(old.forms[key]), _form_fields(new.forms[key])
            details = [f"新增字段 {n}" for n in sorted(set(fb) - set(fa))]
            details += [f"删除字段 {n}" for n in sorted(set(fa) - set(fb))]
            for n in sorted(set(fa) & set(fb)):
                if fa[n] != fb[n]:
                    ta = old.forms[key]["properties"][n].get("title", "")
                    tb = new.forms[key]["properties"][n].get("title", "")
                    details.append(f"字段 {n}：标题 “{ta}” → “{tb}”" if ta != tb else f"字段 {n} 的约束或控件变化")
            rest_a = {k: v for k, v in old.forms[key].items() if k != "properties"}
            rest_b = {k: v for k, v in new.forms[key].items() if k != "properties"}
            if rest_a != rest_b:
                details.append("表单标题、必填项、条件或 ui 设置变化")
            forms.append({"key": key, "change": "修改", "details": details})
    dmn = [{"file": n, "change": "删除" if n not in new.dmn else "新增" if n not in old.dmn else "修改"}
           for n in sorted(set(old.dmn) | set(new.dmn)) if old.dmn.get(n) != new.dmn.get(n)]
    return {"added": added, "removed": removed, "changed": changed, "forms": forms, "dmn": dmn,
            "same": not (added or removed or changed or forms or dmn)}


# ---------------------------------------------------------------- migration

def migration_candidates(version: ProcessVersion, target: ProcessVersion) -> list[dict]:
    """Running cases of `version`, each with the reason it cannot move to `target` (None: it can)."""
    rows = []
    for case in db.session.scalars(select(Case).where(Case.process_version_id == version.id,
                                                      Case.status == "running").order_by(Case.id).limit(500)):
        try:
            reason = runtime.migration_blocker(case, target)
        except Exception as err:   # a case whose state cannot be loaded is reported, not fatal
            reason = f"案件状态无法加载：{type(err).__name__}"
        rows.append({"case": case, "reason": reason})
    return rows


def migrate_cases(version: ProcessVersion, target: ProcessVersion, case_ids: list[int], user: User) -> dict:
    """Migrate the chosen cases one by one (each in its own savepoint): refusals are reported with
    their reason and leave the case untouched."""
    if target.process_key != version.process_key:
        raise DomainError("只能在同一流程的版本之间迁移", code="bad_request")
    if not case_ids:
        raise ValidationFailed({"case_ids": "请选择要迁移的案件"})
    done, refused = [], []
    for case_id in case_ids:
        case = db.session.get(Case, case_id)
        if case is None or case.process_version_id != version.id:
            refused.append({"case_id": case_id, "case_no": case.case_no if case else str(case_id),
                            "reason": f"案件不在 v{version.version} 上"})
            continue
        try:
            with db.session.begin_nested():
                runtime.migrate_case(case_id, target, user)
                record_change(user, "migrate", "case", version.process_key, case.case_no,
                              f"案件 {case.case_no} 由 v{version.version} 迁移到 v{target.version}",
                              content=target.content_sha256, version=target.version, case_id=case.id)
            done.append(case.case_no)
        except DomainError as err:
            db.session.expire_all()
            refused.append({"case_id": case_id, "case_no": case.case_no, "reason": err.message})
    return {"migrated": done, "refused": refused}


def _check_form_schema(schema) -> list[Issue]:
    from ..engine.registry import _check_form
    return _check_form("preview", schema)
