"""Clone engine-made cases at scale.

A *template* is a real case driven through the real engine (start, claim, complete, …). Cloning
copies its rows — case (with its engine state), tasks, timeline, parties, attachments and the
process's own row (hazard) — for another device, use unit, region and date, so that each clone is
its own instance: every engine task id is replaced by a fresh one, every id, number, name and date
the template's texts and engine state mention is replaced by the clone's, and the timeline's SM3
chain is recomputed for the clone (``verify_case_chain`` holds).

Texts are *compiled* once per template into literal pieces and slots; a clone fills the slots.
Slot keys are ``kind:template value`` (``org:12``, ``date:2026-11-24``, ``uuid:…``, ``name:兴宁区``);
a clone supplies one value per key (see ``CaseTemplate.slot_keys``).
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from ..core.clock import as_utc
from ..engine.runtime import timeline_canonical, timeline_head_mac
from ..extensions import db
from ..security.audit import GENESIS, chain_mac

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DATE_RE = r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)"
_SLOT = re.compile(r'"@@N:([^@"]+)@@"|@@S:([^@"]+)@@')

# Integer values of these JSON keys are ids of the named kind (lists under the key too).
JSON_ID_KEYS = {"case_id": "case", "equipment_id": "equipment", "use_org_id": "org", "org_id": "org",
                "initiator_id": "user", "initiator_org_id": "org", "reporter_org_id": "org",
                "property_org_id": "org", "hazard_id": "hazard", "evidence": "att", "attachments": "att",
                "assignee_id": "user", "actor_id": "user", "user_id": "user",
                # 催办 / 抄送 timeline entries: the urged task and the people reminded or copied
                "task_id": "task", "recipients": "user"}
# String values of these keys are replaced whole.
JSON_STR_KEYS = {"region_code": "region", "to_region": "region", "from_region": "region",
                 "case_no": "caseno", "notice_no": "noticeno", "hazard_no": "caseno",
                 "equipment_code": "eqcode"}


class Compiled:
    """A text with slots. ``mode`` says how a slot's value is escaped: "ascii" (JSON with
    \\u escapes, as the engine serializer writes), "json" (JSON, UTF-8) or "plain"."""
    __slots__ = ("parts", "keys", "numeric", "mode")

    def __init__(self, text: str, mode: str):
        self.parts, self.keys, self.numeric, self.mode = [], [], [], mode
        pos = 0
        for m in _SLOT.finditer(text):
            self.parts.append(text[pos:m.start()])
            key = m.group(1) or m.group(2)
            # The key sits inside a JSON string: in "ascii" texts its non-ASCII letters are \u escapes.
            self.keys.append(json.loads(f'"{key}"') if mode != "plain" and "\\" in key else key)
            self.numeric.append(m.group(1) is not None)
            pos = m.end()
        self.parts.append(text[pos:])

    def render(self, values: dict[str, str], escaped: dict[tuple[str, str], str]) -> str:
        if not self.keys:
            return self.parts[0]
        out = [self.parts[0]]
        mode = self.mode
        for key, numeric, literal in zip(self.keys, self.numeric, self.parts[1:]):
            if numeric:
                out.append(values[key])
            elif mode == "plain":
                out.append(values[key])
            else:
                cache_key = (mode, key)
                text = escaped.get(cache_key)
                if text is None:
                    text = json.dumps(values[key], ensure_ascii=(mode == "ascii"))[1:-1]
                    escaped[cache_key] = text
                out.append(text)
            out.append(literal)
        return "".join(out)


class TextCompiler:
    """Turns template texts into Compiled objects, given the template's literal names."""

    def __init__(self, names: list[str], groups: dict[tuple[int, ...], str] | None = None):
        names = sorted({n for n in names if n}, key=len, reverse=True)
        # User id lists replaced whole (a clone's may be longer or shorter): tuple of ids -> slot name.
        self.groups = groups or {}
        alternatives = [UUID_RE, DATE_RE] + [re.escape(n) for n in names]
        self.pattern = re.compile("|".join(f"({a})" for a in alternatives))
        self.names = set(names)

    def _sub(self, text: str) -> str:
        def repl(m: re.Match) -> str:
            value = m.group(0)
            if m.group(1):
                return f"@@S:uuid:{value}@@"
            if m.group(2):
                return f"@@S:date:{value}@@"
            return f"@@S:name:{value}@@"
        return self.pattern.sub(repl, text)

    def _walk(self, obj, key=None):
        if isinstance(obj, dict):
            return {self._sub(k): self._walk(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            group = self.groups.get(tuple(obj)) if JSON_ID_KEYS.get(key) == "user" and obj else None
            if group is not None:
                return f"@@N:group:{group}@@"
            return [self._walk(v, key) for v in obj]
        if isinstance(obj, bool) or obj is None:
            return obj
        if isinstance(obj, int) and key in JSON_ID_KEYS:
            return f"@@N:{JSON_ID_KEYS[key]}:{obj}@@"
        if isinstance(obj, str):
            if key in JSON_STR_KEYS:
                return f"@@S:{JSON_STR_KEYS[key]}:{obj}@@"
            return self._sub(obj)
        return obj

    def plain(self, text: str | None) -> Compiled | None:
        return None if text is None else Compiled(self._sub(text), "plain")

    def json(self, text: str | None, *, ascii_: bool = False, sort_keys: bool = False,
             root_key: str | None = None) -> Compiled | None:
        if text is None:
            return None
        obj = self._walk(json.loads(text), root_key)
        return Compiled(json.dumps(obj, ensure_ascii=ascii_, sort_keys=sort_keys), "ascii" if ascii_ else "json")


# Per table: columns that hold ids / region codes of a kind (mapped through the clone's values).
ID_COLUMNS = {
    "case_record": {"region_code": "region", "org_id": "org", "equipment_id": "equipment", "started_by_id": "user"},
    "task": {"candidate_region": "region", "candidate_org_id": "org", "assignee_id": "user",
             "completed_by_id": "user"},
    "case_event": {"actor_id": "user"},
    "case_party": {"org_id": "org"},
    "attachment": {"uploaded_by_id": "user"},
    "hazard": {"equipment_id": "equipment", "use_org_id": "org", "region_code": "region", "reporter_id": "user",
               "reporter_org_id": "org", "notice_issuer_region": "region"},
    "case_copy": {"user_id": "user", "task_id": "task", "sender_id": "user"},
    "notification": {"user_id": "user", "task_id": "task", "sender_id": "user"},
}
# Datetime columns that are deadlines (moved by whole days with the dates), not action times.
DEADLINE_COLUMNS = {("case_record", "due_at"), ("case_record", "next_timer_at"), ("task", "due_at")}
CHILD_TABLES = ("task", "case_event", "case_party", "attachment", "hazard", "case_copy", "notification")
# Rows nothing else refers to: the caller gives them ids after building (their number per clone
# varies with the size of the clone's copy group).
LATE_ID_TABLES = ("case_copy", "notification")


@dataclass
class CaseTemplate:
    """One engine-made case ready to be cloned."""
    name: str
    case_id: int
    offsets: list[float]             # day offset of each action after the case was found
    marks: list[float]               # epoch seconds at which each action started (same length)
    rows: dict[str, list[dict]] = field(default_factory=dict)      # table -> template rows (case_record: 1)
    texts: dict[tuple[str, int, str], Compiled] = field(default_factory=dict)  # (table, row index, column)
    slot_keys: set[str] = field(default_factory=set)
    base_day: date | None = None     # the template's found_on (local)
    deadline_day: date | None = None  # the template's current deadline (running cases)
    template_ids: dict[str, list[int]] = field(default_factory=dict)   # table -> the template's row ids
    time_columns: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)
    # The people a step copied the case to (抄送, BPMN ccRoles): a clone copies it to its own group,
    # which may be larger or smaller. group_rows: (table, row index) of the first case_copy /
    # notification row of each copy (one row per recipient in the clone); group_skip: the others.
    group: tuple[int, ...] = ()
    group_rows: set[tuple[str, int]] = field(default_factory=set)
    group_skip: set[tuple[str, int]] = field(default_factory=set)

    @property
    def last_offset(self) -> float:
        return self.offsets[-1]

    def count(self, table: str) -> int:
        return len(self.rows.get(table, []))


TEXT_COLUMNS = {
    "case_record": {"state": "ascii", "title": "plain", "current_step": "plain"},
    "task": {"data": "json", "name": "plain"},
    "case_event": {"summary": "plain", "comment": "plain", "data": "json_sorted", "attachment_ids": "att_list",
                   "step_name": "plain"},
    "hazard": {"description": "plain", "notice_requirements": "plain"},
    "attachment": {},
    "case_party": {},
    "case_copy": {"step_name": "plain", "note": "plain"},
    "notification": {"title": "plain", "body": "plain"},
}


def load_template(name: str, case_id: int, offsets: list[float], marks: list[float], names: list[str],
                  group: tuple[int, ...] = (), people: frozenset[int] | None = None) -> CaseTemplate:
    """Read a committed engine-made case and compile it for cloning. `names` are the literal
    texts (organisation, region, people, device names) its texts may mention; `group` the user ids
    (in order) the case was copied to, replaced whole by each clone's (slot ``group:copy``). `people`: the
    users a clone maps (its supervisor, unit user, agency user); a notification to anyone else (e.g. every
    account of a bureau told of a report) has no counterpart in a clone and is left out."""
    tables = {t: db.metadata.tables[t] for t in ("case_record",) + CHILD_TABLES}
    tpl = CaseTemplate(name=name, case_id=case_id, offsets=offsets, marks=marks)
    case_t = tables["case_record"]
    tpl.rows["case_record"] = [dict(db.session.execute(select(case_t).where(case_t.c.id == case_id)).mappings().one())]
    for t in CHILD_TABLES:
        table = tables[t]
        order = table.c.seq if t == "case_event" else table.c.id
        tpl.rows[t] = [dict(r) for r in db.session.execute(select(table).where(table.c.case_id == case_id)
                                                          .order_by(order)).mappings()]
    if people is not None:
        known = set(people) | set(group)
        tpl.rows["notification"] = [r for r in tpl.rows["notification"]
                                    if r["user_id"] in known and r.get("sender_id") in known | {None}]
    tpl.group = tuple(group)
    if group:
        members = set(group)
        for table in LATE_ID_TABLES:
            seen = set()
            for i, row in enumerate(tpl.rows[table]):
                if row["user_id"] in members:
                    key = (row["task_id"], row.get("kind"))
                    (tpl.group_skip if key in seen else tpl.group_rows).add((table, i))
                    seen.add(key)
    compiler = TextCompiler(names, {tpl.group: "copy"} if group else None)
    for table, rows in tpl.rows.items():
        for i, row in enumerate(rows):
            for column, mode in TEXT_COLUMNS.get(table, {}).items():
                value = row.get(column)
                if value is None:
                    continue
                if mode == "ascii":
                    compiled = compiler.json(value, ascii_=True)
                elif mode == "json":
                    compiled = compiler.json(value)
                elif mode == "json_sorted":
                    compiled = compiler.json(value, sort_keys=True)
                elif mode == "att_list":
                    compiled = compiler.json(value, root_key="evidence")
                else:
                    compiled = compiler.plain(value)
                if compiled.keys:
                    tpl.texts[(table, i, column)] = compiled
                    tpl.slot_keys.update(compiled.keys)
    grouped = tpl.group_rows | tpl.group_skip
    for table, columns in ID_COLUMNS.items():
        for i, row in enumerate(tpl.rows.get(table, [])):
            for column, kind in columns.items():
                if row.get(column) is not None and not (column == "user_id" and (table, i) in grouped):
                    tpl.slot_keys.add(f"{kind}:{row[column]}")
    hazard = tpl.rows["hazard"][0] if tpl.rows.get("hazard") else None
    if hazard is not None:
        tpl.base_day = hazard["found_on"]
        tpl.deadline_day = hazard["rectify_deadline"]
        tpl.slot_keys.add(f"caseno:{hazard['hazard_no']}")
        if hazard.get("notice_no"):
            tpl.slot_keys.add(f"noticeno:{hazard['notice_no']}")
    tpl.slot_keys.add(f"caseno:{tpl.rows['case_record'][0]['case_no']}")
    tpl.template_ids = {t: [r["id"] for r in rows] for t, rows in tpl.rows.items()}
    # Which columns of each row are action times (mapped) and which deadlines or dates (shifted).
    for table, rows in tpl.rows.items():
        tpl.time_columns[table] = [
            [(c, "action" if isinstance(v, datetime) and (table, c) not in DEADLINE_COLUMNS else "shift")
             for c, v in row.items() if isinstance(v, date)] for row in rows]
    return tpl


def time_mapper(tpl: CaseTemplate, action_starts: list[float]):
    """Map a template timestamp to the clone's: the same distance after the start of the same action."""
    marks = tpl.marks

    def to_clone(value: datetime | None) -> datetime | None:
        if value is None:
            return None
        ts = as_utc(value).timestamp()
        k = max(0, bisect.bisect_right(marks, ts) - 1)
        return datetime.fromtimestamp(action_starts[k] + (ts - marks[k]), tz=timezone.utc)
    return to_clone


@dataclass
class CloneSpec:
    """What one clone is about. `values` maps every slot key of the template to the clone's value
    (strings; ids as decimal strings or "null")."""
    case_id: int
    values: dict[str, str]
    ids: dict[str, list[int]]        # table -> pre-allocated ids for the child rows (not LATE_ID_TABLES)
    shift_days: int
    action_starts: list[float]
    group: list[int] = field(default_factory=list)    # user ids the clone is copied to (see CaseTemplate.group)


def shifted(value, days: int):
    if value is None:
        return None
    return value + timedelta(days=days)


def build_rows(tpl: CaseTemplate, spec: CloneSpec) -> dict[str, list[dict]]:
    """The clone's rows for every table (ids included), with its timeline chain computed."""
    values, escaped = spec.values, {}
    to_clone = time_mapper(tpl, spec.action_starts)
    shift = timedelta(days=spec.shift_days)
    out: dict[str, list[dict]] = {}
    for table, rows in tpl.rows.items():
        id_cols = ID_COLUMNS.get(table, {})
        new_rows = []
        for i, row in enumerate(rows):
            if (table, i) in tpl.group_skip:
                continue
            grouped = (table, i) in tpl.group_rows
            new = dict(row)
            for column, kind in id_cols.items():
                v = row.get(column)
                if v is not None and not (grouped and column == "user_id"):
                    mapped = values[f"{kind}:{v}"]
                    new[column] = None if mapped == "null" else (int(mapped) if kind != "region" else mapped)
            for column, kind in tpl.time_columns[table][i]:
                v = row[column]
                new[column] = to_clone(v) if kind == "action" else v + shift
            for column in TEXT_COLUMNS.get(table, {}):
                compiled = tpl.texts.get((table, i, column))
                if compiled is not None:
                    new[column] = compiled.render(values, escaped)
            if table == "case_record":
                new["id"] = spec.case_id
            else:
                new["id"] = None if table in LATE_ID_TABLES else spec.ids[table][i]
                new["case_id"] = spec.case_id
            if table == "task":
                new["spiff_task_id"] = values[f"uuid:{row['spiff_task_id']}"]
            if grouped:
                new_rows.extend(dict(new, user_id=user_id) for user_id in spec.group)
            else:
                new_rows.append(new)
        out[table] = new_rows
    case = out["case_record"][0]
    case["case_no"] = values[f"caseno:{tpl.rows['case_record'][0]['case_no']}"]
    for hazard, template in zip(out.get("hazard", []), tpl.rows.get("hazard", [])):
        hazard["hazard_no"] = values[f"caseno:{template['hazard_no']}"]
        if template.get("notice_no"):
            hazard["notice_no"] = values[f"noticeno:{template['notice_no']}"]
    chain(out["case_event"])
    head = out["case_event"][-1] if out["case_event"] else None
    case["timeline_seq"], case["timeline_hash"] = (head["seq"], head["hash"]) if head else (0, None)
    case["timeline_mac"] = timeline_head_mac(case["id"], case["timeline_seq"], case["timeline_hash"])
    return out


def chain(events: list[dict]) -> None:
    """Recompute the HMAC-SM3 chain of one case's timeline rows (ordered by seq), as append_event does."""
    prev = GENESIS
    for e in events:
        e["prev_hash"] = prev
        e["hash"] = prev = chain_mac("timeline", prev, timeline_canonical(e))


def fresh_uuids(case_id: int, template_uuids: list[str], salt: int) -> dict[str, str]:
    """Fresh engine task ids for one clone: unique by (case id, position), led by the case id so
    that new index entries land next to each other."""
    return {old: f"{case_id & 0xffffffff:08x}-{n & 0xffff:04x}-4{salt & 0xfff:03x}-a{(salt >> 12) & 0xfff:03x}-"
                 f"{(case_id >> 32) & 0xffff:04x}{n:08x}" for n, old in enumerate(template_uuids)}
