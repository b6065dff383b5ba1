"""Documents of a supervision inspection on the shared documents service (print view, Word, PDF):
特种设备安全监察指令书 (wording of the template in data/order57_supervision.json), 整改通知书, and the
检查项目表 (the items and their results)."""
from __future__ import annotations

from ..core.clock import DISPLAY_TZ, utcnow
from ..core.documents import OfficialDocument, document_type
from ..core.regions import office_name, region_full_name
from ..errors import NotFound
from . import services
from .checklists import reference


def _issued(row) -> object:
    return (row.letter_issued_at or utcnow()).astimezone(DISPLAY_TZ).date()


def _letter(user, inspection_id: int, kind: str) -> OfficialDocument:
    row = services.visible_inspection(user, inspection_id)
    if not row.letter_no or row.letter_kind != kind:
        raise NotFound("该监督检查未下达此类文书")
    template = reference()["directive_template_特种设备安全监察指令书"]
    deadline = row.rectify_deadline.strftime("%Y年%m月%d日").replace("年0", "年").replace("月0", "月")
    problems = services.problems_text(row)
    region = region_full_name(row.region_code)
    facts = [("被检查单位", row.org.name), ("统一社会信用代码", row.org.uscc), ("检查日期", row.inspected_on.isoformat()),
             ("检查人员", row.inspectors), ("整改期限", deadline)]
    if kind == "directive":
        paragraphs = [
            f"经检查，你（单位）在特种设备安全方面存在下列问题：\n{problems}",
            f"上述问题违反了{row.violation_desc}的规定，",
            f"根据{row.basis_rule}的规定，责令你（单位）于{deadline}前采取以下措施予以改正或者消除事故隐患：",
            row.requirements or "",
        ]
        closing = [template["remedy_clause"].replace("{appealGov}", region).replace("{appealCourt}", region)]
        return OfficialDocument(
            title=template["title"], issuer=office_name(row.region_code), doc_no=row.letter_no,
            salutation=f"被检查单位：{row.org.name}", facts=facts, paragraphs=paragraphs, closing=closing,
            issued_on=_issued(row), seal_text="（特种设备安全监察专用章）",
            receipt="检查人员签名：＿＿＿＿＿＿　　被检查单位（负责人）签名：＿＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日",
            note=template["remark"].removeprefix("备注："), filename=f"指令书-{row.inspection_no}")
    paragraphs = [
        f"经检查，你（单位）在特种设备安全方面存在下列问题：\n{problems}",
        f"上述问题不符合{row.violation_desc}的规定。请你（单位）于{deadline}前按以下要求完成整改，"
        f"并通过系统（手机可拍照上传）反馈整改情况：",
        row.requirements or "",
    ]
    return OfficialDocument(
        title="特种设备安全监督检查整改通知书", issuer=office_name(row.region_code), doc_no=row.letter_no,
        salutation=f"{row.org.name}：", facts=facts, paragraphs=paragraphs, issued_on=_issued(row),
        seal_text="（印章）", note="本通知书一式两份，发出部门、被检查单位各一份。", filename=f"整改通知书-{row.inspection_no}")


@document_type("sv_directive", "特种设备安全监察指令书（监督检查）")
def directive_document(user, inspection_id: int) -> OfficialDocument:
    return _letter(user, inspection_id, "directive")


@document_type("sv_notice", "整改通知书（监督检查）")
def notice_document(user, inspection_id: int) -> OfficialDocument:
    return _letter(user, inspection_id, "notice")


@document_type("sv_items", "监督检查项目表")
def items_document(user, inspection_id: int) -> OfficialDocument:
    row = services.visible_inspection(user, inspection_id)
    paragraphs = []
    for title, rows in services.letter_sections(row):
        paragraphs.append(f"【{title}】")
        for item, f in rows:
            hazard = f"（已上报重大事故隐患 {f.hazard_case.case_no}）" if f.hazard_case else ""
            paragraphs.append(f"{item.seq}. {item.text} —— 检查结果：{f.result}"
                              f"{'；说明：' + f.note if f.note else ''}{hazard}（依据：{item.basis or '未录入'}）")
    if row.other_problems:
        paragraphs.append(f"【其他问题】{row.other_problems}")
    facts = [("检查类别", row.category), ("单位类别", row.unit_categories.replace(",", "、")),
             ("被检查单位", row.org.name), ("统一社会信用代码", row.org.uscc), ("单位地址", row.org.address or ""),
             ("检查日期", row.inspected_on.isoformat()), ("检查人员", row.inspectors), ("记录员", row.recorder or ""),
             ("发现问题", str(len(services.problems_of(row)) + (1 if row.other_problems else 0))),
             ("上报重大事故隐患", str(services.hazard_count(row)))]
    return OfficialDocument(
        title="特种设备安全监督检查记录（检查项目表）", issuer=office_name(row.region_code),
        doc_no=row.inspection_no, facts=facts, paragraphs=paragraphs,
        issued_on=row.inspected_on, seal_text="", receipt="检查人员签名：＿＿＿＿＿＿　　被检查单位意见及签名：＿＿＿＿＿＿",
        filename=f"监督检查项目表-{row.inspection_no or row.id}")


@document_type("pl_summary", "证后监督检查综述报告")
def summary_document(user, campaign_id: int) -> OfficialDocument:
    """检查综述报告: generated when every inspected unit is done; units, findings, hazards, rectification."""
    from . import campaigns
    c = campaigns.visible_campaign(user, campaign_id)
    if c.report_generated_at is None:
        raise NotFound("全部被抽查单位检查完成后才生成检查综述报告")
    done, total = campaigns.progress(c)
    problems = sum(len(services.problems_of(u)) for u in c.units)
    hazards = sum(services.hazard_count(u) for u in c.units)
    forwarded = sum(1 for u in c.units for s in u.sections for f in s.findings if f.forwarded_region)
    returns = sum(u.return_count for u in c.units)
    scores = [u.eval_score for u in c.units if u.eval_score]
    facts = [("任务名称", c.name), ("任务编号", c.campaign_no or ""), ("项目承担单位", c.undertaking_org.name),
             ("检查任务监督人", c.supervisor_expert.name if c.supervisor_expert else ""),
             ("检查项目表", f"{c.template.name}（第{c.template.version}版）" if c.template else ""),
             ("被抽查单位", f"{total} 家（完成 {done} 家）"), ("发现问题", f"{problems} 项"),
             ("重大事故隐患", f"{hazards} 项"), ("上报监察", f"{forwarded} 项"), ("整改退回", f"{returns} 次"),
             ("被检查单位评价", f"{len(scores)} 家，平均 {sum(scores) / len(scores):.1f} 分" if scores else "尚无评价")]
    paragraphs = [f"一、抽取情况：{campaigns.draw_summary(c)}。", "二、各被抽查单位检查情况："]
    for n, u in enumerate(c.units, start=1):
        experts = "、".join(e.name for e in campaigns.experts_by_ids(u.expert_id_list))
        paragraphs.append(
            f"{n}. {u.org.name}（{'随机抽取' if u.picked == 'random' else '指定抽取'}）：检查日期 "
            f"{u.inspected_on.isoformat() if u.inspected_on else '—'}，检查人员 {experts or '—'}；"
            f"检查情况：{u.summary or '—'}；发现问题 {len(services.problems_of(u))} 项，"
            f"重大事故隐患 {services.hazard_count(u)} 项；整改：{u.rectify_measures or '无需整改'}"
            f"（退回 {u.return_count} 次，{u.status_label}）；评价：{f'{u.eval_score}分' if u.eval_score else '未评价'}。")
        for f in services.problems_of(u):
            hazard = f"，已上报重大事故隐患 {f.hazard_case.case_no}" if f.hazard_case else ""
            forward = f"，上报监察处理结果：{f.forward_outcome}" if f.forward_outcome else ""
            paragraphs.append(f"　　问题：{f.item.text if f.item else ''}（{f.result}）{f.note or ''}{hazard}{forward}")
    issued = c.report_generated_at.astimezone(DISPLAY_TZ).date()
    return OfficialDocument(
        title="证后监督检查综述报告", issuer=c.undertaking_org.name, doc_no=c.campaign_no, facts=facts,
        paragraphs=paragraphs, closing=[f"办结信息：{c.closing_info}"] if c.closing_info else [],
        issued_on=issued, seal_text="（盖章）", receipt=None, filename=f"检查综述报告-{c.campaign_no}")
