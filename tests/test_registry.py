"""Deploying definitions: idempotent on unchanged content; broken files fail in Chinese, nothing stored."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import deploy_all
from app.engine.models import ProcessVersion
from app.engine.registry import DefinitionError, deploy_bundle, load_bundle
from app.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def bundle():
    return load_bundle("major_hazard", ROOT / "workflows", ROOT / "forms", ROOT / "rules")


def versions():
    return db.session.scalar(select(func.count(ProcessVersion.id)))


def test_deploy_is_idempotent():
    before = versions()
    assert all(not created for _, _, created in deploy_all())
    assert versions() == before


def test_changed_content_makes_a_new_version_and_old_cases_keep_theirs():
    from .conftest import make_case
    old_case = make_case()
    b = bundle()
    b.forms["verify"]["properties"]["opinion"]["title"] = "复核意见（新版）"
    version, created = deploy_bundle(b)
    db.session.commit()
    try:
        assert created and version.version == old_case.process_version.version + 1
        new_case = make_case()
        assert new_case.process_version_id == version.id != old_case.process_version_id
    finally:
        from app.cases.models import Case
        from app.hazards.models import Hazard
        from sqlalchemy import delete
        from app.cases.models import CaseEvent, CaseParty, Task
        from .conftest import allow_cleanup_of_append_only_tables
        allow_cleanup_of_append_only_tables(db)
        for m in (Hazard, CaseEvent, Task, CaseParty, Case):
            db.session.execute(delete(m))
        db.session.delete(version)
        db.session.commit()


@pytest.mark.parametrize("mutate,message", [
    (lambda b: setattr(b, "bpmn_xml", b.bpmn_xml[:-40]), "不是合法的 XML"),
    (lambda b: setattr(b, "bpmn_xml", b.bpmn_xml.replace('name="use_unit"', 'name="nobody"')), "不是已知角色"),
    (lambda b: b.forms.pop("verify"), "引用的表单 verify 不存在"),
    (lambda b: setattr(b, "bpmn_xml", b.bpmn_xml.replace('verify_result == "pass"', 'verify_result ==', 1)),
     "条件有误"),
    (lambda b: setattr(b, "bpmn_xml", b.bpmn_xml.replace('id="hazard.close"', 'id="os.system"')), "未注册的函数 os.system"),
    (lambda b: setattr(b, "bpmn_xml", b.bpmn_xml.replace("&quot;verifying&quot;", "__import__(&quot;os&quot;)")
                       .replace("'verifying'", "__import__('os')")), "表达式"),
])
def test_broken_definitions_are_refused_in_chinese(mutate, message):
    b = bundle()
    mutate(b)
    before = versions()
    with pytest.raises(DefinitionError) as err:
        deploy_bundle(b)
    db.session.rollback()
    assert any(message in e for e in err.value.errors), err.value.errors
    assert versions() == before
