"""The psycopg cursor of the application's PostgreSQL connections: its `description` is built on demand.

psycopg builds `cursor.description` afresh on every access: one `Column` per result column, each
decoding the column name and looking up its type. SQLAlchemy reads it after every statement, but
for a statement whose compiled form it has cached (nearly all of them) it only checks whether rows
came back and takes the column layout from its cache. Those Column objects were about 6% of the web
process's CPU on the hazard loop (bench/journey.py --in-process --profile: 125 per request).

`LazyDescriptionCursor.description` answers the same question (None when the statement returned
no rows) with a sequence that builds the Columns of that result only when it is read. The Columns
are psycopg's own, made from the result the statement returned (they read the cursor's encoding and
type adapters, psycopg-internal names: psycopg is pinned and tests/test_pgcursor.py compares them).
"""
from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg.pq import ExecStatus

_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _ResultOf:
    """What psycopg.Column reads of a cursor, fixed to one result."""
    __slots__ = ("pgresult", "_encoding", "adapters")

    def __init__(self, cursor, result):
        self.pgresult, self._encoding, self.adapters = result, cursor._encoding, cursor.adapters


class LazyDescription(Sequence):
    """`cursor.description` of one result; the Column objects are made at the first read of an item."""
    __slots__ = ("_source", "_count", "_columns")

    def __init__(self, cursor, result):
        self._source, self._count, self._columns = _ResultOf(cursor, result), result.nfields, None

    def _all(self) -> list[psycopg.Column]:
        if self._columns is None:
            self._columns = [psycopg.Column(self._source, i) for i in range(self._count)]
        return self._columns

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other):
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return repr(self._all())


class LazyDescriptionCursor(psycopg.Cursor):
    @property
    def description(self):
        result = self.pgresult
        if result and (result.nfields or result.status in _ROWS):
            return LazyDescription(self, result)
        return None
