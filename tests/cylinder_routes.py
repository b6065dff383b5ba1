"""Route classification of gas-cylinder traceability for tests/test_route_scope.py: the objects are the
demo filler's (cyl_filler, 兴宁区) cylinder, filling and scale, the demo maker's batch, and a registration
application the filler starts."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db

from .conftest import user

# Outside the demo filler's objects: another county, the city's other county, an unrelated use unit,
# the other filler, the maker (for fillings/scales), an agency, an operator, an administrator.
CYL_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_xn", "cyl_filler_b", "agency_gx", "op_wei", "sys_admin")
BATCH_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_xn", "cyl_filler_b", "agency_gx", "op_wei", "sys_admin")
MAKER_OR_FILLER = {"cylinder_maker", "filling_unit"}
REGULATORS = {"province_supervisor", "city_supervisor", "county_supervisor", "approver"}


def _demo() -> dict:
    from app.cylinders.models import Cylinder, CylinderFilling, FillingScale
    c = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-DEMO-0001"))
    filling = db.session.scalar(select(CylinderFilling.id).where(CylinderFilling.cylinder_id == c.id))
    scale = db.session.scalar(select(FillingScale.id).where(FillingScale.code == "CZC-DEMO-01"))
    return {"cylinder": c.id, "code": c.trace_code, "filling": filling, "batch": c.batch_id, "scale": scale,
            "unit": db.session.scalar(select(func.min(Cylinder.id)))}


def _application() -> dict:
    from app.cylinders import services
    from app.cylinders.models import CylinderApplication
    from app.engine import runtime
    services.add_cylinder(user("cyl_filler"), {
        "trace_code": "GXQP-SCOPE-01", "factory_no": "SCOPE01", "kind": "civil_lpg", "medium": "液化石油气",
        "volume_l": "35.5", "nominal_pressure_mpa": "2.1", "manufacture_date": "2026-01-01", "design_life_years": "8"})
    case = runtime.start_case("cylinder_registration", user("cyl_filler"), {"business": "register"})
    db.session.commit()
    row = db.session.scalar(select(CylinderApplication).where(CylinderApplication.case_id == case.id))
    return {**_demo(), "application": row.id, "case": case.id}


def _items(ids) -> int:
    from app.cylinders.models import CylinderApplicationItem
    return db.session.scalar(select(func.count()).where(CylinderApplicationItem.application_id == ids["application"]))


def _batch_size(ids) -> int:
    from app.cylinders.models import Cylinder
    return db.session.scalar(select(func.count()).where(Cylinder.batch_id == ids["batch"]))


def _fresh_cylinder() -> dict:
    from app.cylinders import services
    c = services.add_cylinder(user("cyl_filler"), {
        "trace_code": "GXQP-SCOPE-02", "factory_no": "SCOPE02", "kind": "civil_lpg", "medium": "液化石油气",
        "volume_l": "35.5", "nominal_pressure_mpa": "2.1", "manufacture_date": "2026-01-01", "design_life_years": "8"})
    db.session.commit()
    return {**_demo(), "fresh": c.id}


def _fresh_state(ids):
    from app.cylinders.models import Cylinder
    row = db.session.get(Cylinder, ids["fresh"], populate_existing=True)
    return None if row is None else (row.factory_no, row.status)


def _tagged_unit() -> dict:
    from app.cylinders.models import CylinderUnit
    row = db.session.scalar(select(CylinderUnit).where(CylinderUnit.tag == "civil"))
    return {**_demo(), "tag_unit": row.id}


def _accounts(_ids) -> int:
    from app.core.models import User
    return db.session.scalar(select(func.count(User.id)))


def _scale_state(ids):
    from app.cylinders.models import FillingScale
    return db.session.get(FillingScale, ids["scale"], populate_existing=True).locked


def routes(Public, LoginOnly, Roles, Obj) -> dict:
    CYL = {"cylinder_maker", "filling_unit"}
    FILLER_WEB = ("qx_supervisor", "lz_supervisor", "unit_xn", "cyl_filler_b", "cyl_maker", "agency_gx", "op_wei",
                  "sys_admin")
    regulator_outsiders = ("qx_supervisor", "lz_supervisor", "unit_xn", "cyl_filler", "cyl_maker", "agency_gx",
                           "op_wei", "sys_admin")
    return {
        # -- pages
        "cylinders.desk": Roles({"filling_unit"}, "/cylinders/desk", insider=False),
        "cylinders.archive": LoginOnly("/cylinders"),
        "cylinders.archive_export": LoginOnly("/cylinders/export.xlsx"),
        "cylinders.new_cylinder": Roles({"filling_unit"}, "/cylinders/new", insider=False),
        "cylinders.new_cylinder#POST": Roles({"filling_unit"}, "/cylinders/new", "POST",
                                             {"trace_code": "GXQP-ROLE-02"}, insider=False),
        "cylinders.cylinder": Obj(_demo, "/cylinders/{cylinder}", "cyl_filler", CYL_OUTSIDERS),
        "cylinders.edit_cylinder": Obj(_fresh_cylinder, "/cylinders/{fresh}/edit", "cyl_filler", CYL_OUTSIDERS,
                                       also_refused=("xn_supervisor",)),
        "cylinders.edit_cylinder#POST": Obj(_fresh_cylinder, "/cylinders/{fresh}/edit", "cyl_filler", CYL_OUTSIDERS,
                                            "POST", lambda ids: {"trace_code": "GXQP-SCOPE-02", "factory_no": "HACK"},
                                            _fresh_state, view="/cylinders/{fresh}", also_refused=("xn_supervisor",)),
        "cylinders.delete_cylinder": Obj(_fresh_cylinder, "/cylinders/{fresh}/delete", "cyl_filler", CYL_OUTSIDERS,
                                         "POST", lambda ids: {}, _fresh_state, view="/cylinders/{fresh}",
                                         also_refused=("xn_supervisor",)),
        "cylinders.fillings": LoginOnly("/cylinders/fillings"),
        "cylinders.fillings_export": LoginOnly("/cylinders/fillings/export.xlsx"),
        "cylinders.filling": Obj(_demo, "/cylinders/fillings/{filling}", "cyl_filler", CYL_OUTSIDERS + ("cyl_maker",)),
        "cylinders.new_filling": Roles({"filling_unit"}, "/cylinders/fillings/new", insider=False),
        "cylinders.new_filling#POST": Roles({"filling_unit"}, "/cylinders/fillings/new", "POST",
                                            {"trace_code": "GXQP-DEMO-0001"}, insider=False),
        "cylinders.applications": LoginOnly("/cylinders/applications"),
        "cylinders.application": Obj(_application, "/cylinders/applications/{application}", "cyl_filler",
                                     CYL_OUTSIDERS + ("cyl_maker",)),
        "cylinders.application_items": Obj(_application, "/cylinders/applications/{application}/items", "cyl_filler",
                                           CYL_OUTSIDERS + ("cyl_maker",), "POST",
                                           lambda ids: {"trace_codes": "GXQP-SCOPE-01"}, _items,
                                           view="/cylinders/applications/{application}",
                                           also_refused=("xn_supervisor",)),
        "cylinders.application_remove": Obj(_application, "/cylinders/applications/{application}/items/remove",
                                            "cyl_filler", CYL_OUTSIDERS + ("cyl_maker",), "POST",
                                            lambda ids: {"item_ids": "1"}, _items,
                                            view="/cylinders/applications/{application}",
                                            also_refused=("xn_supervisor",)),
        "cylinders.application_xlsx": Obj(_application, "/cylinders/applications/{application}/form.xlsx",
                                          "cyl_filler", CYL_OUTSIDERS + ("cyl_maker",)),
        "cylinders.batches": LoginOnly("/cylinders/batches"),
        "cylinders.new_batch": Roles({"cylinder_maker"}, "/cylinders/batches/new", insider=False),
        "cylinders.new_batch#POST": Roles({"cylinder_maker"}, "/cylinders/batches/new", "POST", {"batch_no": "X"},
                                          insider=False),
        "cylinders.batch": Obj(_demo, "/cylinders/batches/{batch}", "cyl_maker", BATCH_OUTSIDERS),
        "cylinders.edit_batch": Obj(_demo, "/cylinders/batches/{batch}/edit", "cyl_maker", BATCH_OUTSIDERS,
                                    also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders.edit_batch#POST": Obj(_demo, "/cylinders/batches/{batch}/edit", "cyl_maker", BATCH_OUTSIDERS,
                                         "POST", lambda ids: {"batch_no": "HACK"}, _batch_size,
                                         view="/cylinders/batches/{batch}", also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders.batch_add_cylinder": Obj(_demo, "/cylinders/batches/{batch}/cylinders", "cyl_maker",
                                            BATCH_OUTSIDERS, "POST",
                                            lambda ids: {"trace_code": "GXQP-OUT-02", "factory_no": "O2"},
                                            _batch_size, view="/cylinders/batches/{batch}",
                                            also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders.batch_certificate": Obj(_demo, "/cylinders/batches/{batch}/certificates", "cyl_maker",
                                           BATCH_OUTSIDERS, "POST", lambda ids: {}, _batch_size,
                                           view="/cylinders/batches/{batch}",
                                           also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders.batch_certificate_file": Obj(_demo, "/cylinders/batches/{batch}/certificates/999999", "cyl_maker",
                                                BATCH_OUTSIDERS, view="/cylinders/batches/{batch}"),
        "cylinders.batch_agency": Obj(_demo, "/cylinders/batches/{batch}/agency", "cyl_maker", BATCH_OUTSIDERS,
                                      "POST", lambda ids: {}, _batch_size, view="/cylinders/batches/{batch}",
                                      also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders.units": Roles(REGULATORS, "/cylinders/units"),
        "cylinders.units#POST": Roles(REGULATORS, "/cylinders/units", "POST", {"uscc": "x", "tag": "civil"}),
        "cylinders.open_account": Obj(_tagged_unit, "/cylinders/units/{tag_unit}/account", "xn_supervisor",
                                      regulator_outsiders, "POST",
                                      lambda ids: {"username": "scope_hack", "display_name": "越权"}, _accounts,
                                      view="/cylinders/units"),
        "cylinders.scales": Roles(REGULATORS | {"filling_unit"}, "/cylinders/scales"),
        "cylinders.scales#POST": Roles(REGULATORS, "/cylinders/scales", "POST", {"code": "X", "name": "x", "uscc": "x"}),
        "cylinders.lock_scale": Obj(_demo, "/cylinders/scales/{scale}/lock", "xn_supervisor", regulator_outsiders,
                                    "POST", lambda ids: {"lock": "1", "reason": "越权锁定"}, _scale_state,
                                    view="/cylinders/scales", also_refused=("cyl_filler",)),
        # -- API
        "cylinders_api.list_cylinders": LoginOnly("/api/v1/cylinders"),
        "cylinders_api.create_cylinder": Roles({"filling_unit"}, "/api/v1/cylinders", "POST",
                                               {"trace_code": "GXQP-ROLE-01", "factory_no": "R1", "kind": "civil_lpg",
                                                "medium": "液化石油气", "volume_l": 35.5, "nominal_pressure_mpa": 2.1,
                                                "manufacture_date": "2026-01-01", "design_life_years": 8},
                                               insider=False),
        "cylinders_api.get_cylinder": Obj(_demo, "/api/v1/cylinders/{cylinder}", "cyl_filler", CYL_OUTSIDERS),
        "cylinders_api.trace": Obj(_demo, "/api/v1/cylinders/trace/{code}", "cyl_filler", CYL_OUTSIDERS),
        "cylinders_api.fillers": LoginOnly("/api/v1/cylinders/fillers"),
        "cylinders_api.list_batches": LoginOnly("/api/v1/cylinders/batches"),
        "cylinders_api.create_batch": Roles({"cylinder_maker"}, "/api/v1/cylinders/batches", "POST",
                                            {"batch_no": "ROLE-1", "product_name": "x", "kind": "civil_lpg",
                                             "medium": "液化石油气", "volume_l": 35.5, "nominal_pressure_mpa": 2.1,
                                             "manufacture_date": "2026-01-01", "design_life_years": 8}, insider=False),
        "cylinders_api.get_batch": Obj(_demo, "/api/v1/cylinders/batches/{batch}", "cyl_maker", BATCH_OUTSIDERS),
        "cylinders_api.add_batch_cylinder": Obj(
            _demo, "/api/v1/cylinders/batches/{batch}/cylinders", "cyl_maker", BATCH_OUTSIDERS, "POST",
            lambda ids: {"trace_code": "GXQP-OUT-01", "factory_no": "O1", "kind": "civil_lpg", "medium": "液化石油气",
                         "volume_l": 35.5, "nominal_pressure_mpa": 2.1, "manufacture_date": "2026-01-01",
                         "design_life_years": 8}, _batch_size, view="/api/v1/cylinders/batches/{batch}",
            also_refused=("cyl_filler", "xn_supervisor")),
        "cylinders_api.list_applications": LoginOnly("/api/v1/cylinders/applications"),
        "cylinders_api.get_application": Obj(_application, "/api/v1/cylinders/applications/{application}",
                                             "cyl_filler", CYL_OUTSIDERS + ("cyl_maker",)),
        "cylinders_api.add_application_items": Obj(
            _application, "/api/v1/cylinders/applications/{application}/items", "cyl_filler",
            CYL_OUTSIDERS + ("cyl_maker",), "POST", lambda ids: {"trace_codes": ["GXQP-SCOPE-01"]}, _items,
            view="/api/v1/cylinders/applications/{application}", also_refused=("xn_supervisor",)),
        "cylinders_api.remove_application_items": Obj(
            _application, "/api/v1/cylinders/applications/{application}/items/remove", "cyl_filler",
            CYL_OUTSIDERS + ("cyl_maker",), "POST", lambda ids: {"item_ids": [1, 2, 3]}, _items,
            view="/api/v1/cylinders/applications/{application}", also_refused=("xn_supervisor",)),
        "cylinders_api.list_fillings": LoginOnly("/api/v1/cylinders/fillings"),
        "cylinders_api.create_filling": Roles({"filling_unit"}, "/api/v1/cylinders/fillings", "POST",
                                              {"trace_code": "GXQP-DEMO-0001", "filled_at": "2026-12-01T09:00",
                                               "operator_name": "越权", "pre_check": "pass"}, insider=False),
        "cylinders_api.get_filling": Obj(_demo, "/api/v1/cylinders/fillings/{filling}", "cyl_filler",
                                         CYL_OUTSIDERS + ("cyl_maker",)),
        # the authority signs its callback (HMAC-SM3); tested in tests/test_cylinders_registration.py
        "cylinders_api.authority_callback": Public("/api/v1/cylinders/authority/callback", "POST"),
    }
