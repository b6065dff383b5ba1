"""Inspection conclusions by 种类 (docs/参考数据.md).

The failing conclusions are GB 45067-2024's (4.2–4.4: 锅炉、压力容器、压力管道 "不符合要求", 压力管道 also
"不允许使用"; 4.6–4.10: 电梯、起重机械、大型游乐设施、场(厂)内车辆、客运索道 "不合格", 客运索道 also "复检不合格").
The passing ones follow the same TSG vocabularies: 符合要求 / 基本符合要求 for pressure equipment, 合格 /
复检合格 for the mechanical kinds. Codes outside those kinds (元件, 安全附件) use 合格 / 不合格.
"""
from __future__ import annotations

PRESSURE = ("符合要求", "基本符合要求", "不符合要求")
PIPING = PRESSURE + ("不允许使用",)
MECHANICAL = ("合格", "复检合格", "不合格")
ROPEWAY = MECHANICAL + ("复检不合格",)
GENERIC = ("合格", "不合格")

BY_KIND = {"1000": PRESSURE, "2000": PRESSURE, "8000": PIPING, "3000": MECHANICAL, "4000": MECHANICAL,
           "5000": MECHANICAL, "6000": MECHANICAL, "9000": ROPEWAY}
FAILING = frozenset(("不符合要求", "不允许使用", "不合格", "复检不合格"))
ALL = tuple(dict.fromkeys(PIPING + ROPEWAY))


def for_kind(kind_code: str | None) -> tuple[str, ...]:
    return BY_KIND.get(kind_code or "", GENERIC)


def is_passing(conclusion: str | None) -> bool:
    """A passing conclusion allows use until the next due date; a failing one does not (检验不合格的不得继续使用)."""
    return bool(conclusion) and conclusion not in FAILING
