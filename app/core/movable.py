"""Which equipment is movable (流动作业): the rule behind Equipment.movable (§4.5.9 移动式设备交接).

Decided from the 《特种设备目录》 code (app/core/data/equipment_categories.json, the catalogue of
原质检总局2014年第114号公告; char 1 = 种类, char 2 = 类别, char 3 = 品种). A code is movable when it
lies under one of these nodes, i.e. starts with the prefix:

  5xxx  5000 场（厂）内专用机动车辆 — the whole 种类: 5100 机动工业车辆 (5110 叉车) and
        5200 非公路用旅游观光车辆. Self-propelled; they work wherever the owner sends them.
  44xx  4400 流动式起重机 — 4410 轮胎, 4420 履带, 4440 集装箱正面吊运, 4450 铁路起重机.
        The catalogue itself names this class "流动式" (as opposed to the fixed bridge, gantry,
        tower, portal … cranes, which are re-registered as 移装 when moved).
  22xx  2200 移动式压力容器 — 2210 铁路罐车, 2220 汽车罐车, 2230 长管拖车, 2240 罐式集装箱,
        2250 管束式集装箱. The catalogue names the class "移动式".

Not movable: every other code, including 2300 气瓶 (cylinders are followed through the filling
units' traceability system, §4.4, not by changing the supervising authority) and 4860 施工升降机 /
4300 塔式起重机 (installed per site; moving one is 移装 with a new registration).

Source of the classes: the catalogue names above; DOMAIN.md "Mobile (流动作业) equipment" (mobile
cranes, mobile pressure vessels, field vehicles; legacy platforms flag IS_MOVEEQP) and
requirement §4.5.9 ("可移动式场（厂）内机动车辆、起重机械等"). See docs/移动式设备交接.md.
"""
from __future__ import annotations

MOVABLE_CATEGORY_PREFIXES = ("5", "44", "22")


def is_movable_category(code: str | None) -> bool:
    return bool(code) and str(code).startswith(MOVABLE_CATEGORY_PREFIXES)
