"""特种设备使用登记表（气瓶）of an application, on the shared documents service
(print, Word, PDF): the user unit's facts and the cylinders as numbered lines. The applicant prints it,
seals it and uploads it as one of the registration documents."""
from __future__ import annotations

from ..core.clock import today_local
from ..core.documents import OfficialDocument, document_type
from ..core.regions import region_full_name
from .services import visible_application


@document_type("cylinder_registration_form", "特种设备使用登记表（气瓶）")
def registration_form(user, application_id: int) -> OfficialDocument:
    a = visible_application(user, application_id)
    filler = a.filler
    facts = [("申请编号", a.application_no), ("业务类型", a.business_label), ("使用单位名称", filler.name),
             ("统一社会信用代码", filler.uscc), ("使用单位地址", filler.address or "—"),
             ("属地", region_full_name(filler.region_code)), ("气瓶数量", f"{len(a.items)} 只")]
    if a.agent:
        facts.append(("代办单位", a.agent.name))
    if a.reason:
        facts.append(("原因", a.reason))
    for n, item in enumerate(a.items, 1):
        c = item.cylinder
        facts.append((f"气瓶 {n}", f"溯源码 {c.trace_code}；出厂编号 {c.factory_no}；{c.kind_label}；{c.medium}；"
                                  f"{c.volume_l}L/{c.nominal_pressure_mpa}MPa；制造单位 {c.maker_name or '—'}；"
                                  f"批号 {c.batch_no or '—'}；制造日期 {c.manufacture_date.isoformat()}；"
                                  f"设计使用年限 {c.design_life_years} 年"))
    return OfficialDocument(
        title="特种设备使用登记表（气瓶）", issuer=filler.name, issued_on=today_local(),
        filename=f"使用登记表-{a.application_no}", doc_no=a.application_no, salutation="使用登记机关：",
        facts=facts,
        paragraphs=["本单位申请办理上述气瓶的" + a.business_label.replace("（代办）", "") +
                    "，承诺所提供的资料真实有效，并对气瓶的使用安全负责。"],
        closing=["本表由使用单位填写、加盖公章后作为登记材料上传；具体格式以登记机关的“特种设备使用登记表（式样三）”为准。"],
        seal_text="使用单位（公章）", receipt="安全管理负责人：＿＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日")
