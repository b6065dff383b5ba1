"""Column types the models share."""
from __future__ import annotations

from sqlalchemy import String, TypeDecorator, literal_column


class IndexedStatus(TypeDecorator):
    """A status column that partial indexes are built on (… WHERE status = 'open').

    An equality with one of `literal_values` is written into the SQL as a constant (status = 'open')
    instead of a bound parameter. psycopg prepares a statement after a few runs and PostgreSQL then
    reuses a generic plan for it (plan_cache_mode=auto, app/config.py); a generic plan can use a
    partial index only when the query states the index's predicate literally. Any other value (a
    user's filter, say) stays a bound parameter. The column itself is a plain VARCHAR."""
    impl = String
    cache_ok = True

    def __init__(self, length: int, literal_values: tuple[str, ...]):
        super().__init__(length)
        self.literal_values = frozenset(literal_values)

    class comparator_factory(TypeDecorator.Comparator):
        def __eq__(self, other):
            if isinstance(other, str) and other in self.expr.type.literal_values:
                # one of the constants named in the model (never a caller's text), quoted as SQL
                other = literal_column("'" + other.replace("'", "''") + "'", String())
            return super().__eq__(other)

        __hash__ = TypeDecorator.Comparator.__hash__
