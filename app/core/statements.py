"""SQL statements and conditions built once per process and reused.

A SQL expression is immutable, so one built for a given input can serve every request, thread and
session. Building the same statement on every request — and SQLAlchemy generating a cache key for
each new statement object — cost more CPU than executing most of the hot-path statements
(docs/性能与规模.md §5.10). Hot paths therefore build a statement once for its inputs and execute it
with parameters (`bindparam`) for the values that change per call.
"""
from __future__ import annotations

from typing import Callable

_BUILT: dict = {}
BUILT_MAX = 20_000


def built(kind: str, key: tuple, build: Callable[[], object]):
    """What `build()` returns for (`kind`, `key`), built on first use. `key` must hold every input the
    result depends on (values compared by ==; for objects whose == is not plain equality, such as
    SQL expressions, use their id(): the statement built from them keeps them alive, so the id stays
    theirs while the entry exists). Bounded: emptied when full."""
    value = _BUILT.get((kind, key))
    if value is None:
        if len(_BUILT) >= BUILT_MAX:
            _BUILT.clear()
        value = _BUILT[(kind, key)] = build()
    return value


def forget_built() -> None:
    """Drop every built statement (a start-up registration changed what they would be)."""
    _BUILT.clear()
