"""Search boxes: `contains` matches literally (no wildcards from the user), case-insensitively for
Latin letters, and with a plain LIKE for Chinese — on SQLite and PostgreSQL alike."""
from sqlalchemy import select

from app.core.models import Organization
from app.core.params import contains
from app.extensions import db


def _names(q: str) -> set[str]:
    return set(db.session.scalars(select(Organization.name).where(contains(Organization.name, q),
                                                                  Organization.name.like("测试搜索%"))))


def test_contains_is_literal_and_case_insensitive_for_letters(app):
    with app.app_context():
        region = db.session.scalar(select(Organization.region_code).limit(1))
        for i, name in enumerate(["测试搜索电梯ABC有限公司", "测试搜索100%达标公司", "测试搜索a_b公司", "测试搜索叉车公司"]):
            db.session.add(Organization(uscc=f"91450100MA5T{i:06d}", name=name, kind="use_unit", region_code=region))
        db.session.flush()
        assert _names("电梯") == {"测试搜索电梯ABC有限公司"}
        assert _names("abc") == {"测试搜索电梯ABC有限公司"}            # letters: case-insensitive
        assert _names("100%") == {"测试搜索100%达标公司"}               # % is a character, not a wildcard
        assert _names("%") == {"测试搜索100%达标公司"}
        assert _names("a_b") == {"测试搜索a_b公司"} and _names("_") == {"测试搜索a_b公司"}
        assert _names("叉车") == {"测试搜索叉车公司"} and _names("起重") == set()
        db.session.rollback()


def test_ledger_search_with_a_percent_sign_finds_nothing_rather_than_everything(app, web):
    from tests.conftest import make_case
    with app.app_context():
        case_no = make_case().case_no
        db.session.commit()
    session = web("xn_supervisor")
    assert case_no in session.get("/hazards").get_data(as_text=True)
    assert case_no in session.get(f"/hazards?q={case_no[-6:]}").get_data(as_text=True)
    assert case_no not in session.get("/hazards?q=%25").get_data(as_text=True)
    assert case_no not in session.get("/hazards?q=_").get_data(as_text=True)
