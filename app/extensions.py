"""Flask extensions, created unbound and bound in create_app()."""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase, Mapper
from sqlalchemy.orm.interfaces import MANYTOONE

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


# Many-to-one relationships declared viewonly=True are for reading: the unit of work skips them at
# every flush (with ~40 of them on the case, task and hazard rows, a flush on the task path costs a
# fraction of what it did), and the row is linked by its foreign key column (`case_id=…`). Assigning
# the object would be ignored silently, so it raises instead; code that has the row in hand and wants
# it readable without a statement uses sqlalchemy.orm.attributes.set_committed_value.
def _refuse_assignment(relation):
    def refuse(_target, _value, _old, _initiator):
        columns = ", ".join(column.key for column in relation.local_columns)
        raise AttributeError(f"{relation} is read-only (viewonly): set {columns} instead")
    return refuse


@event.listens_for(Mapper, "mapper_configured")
def _guard_read_only_relationships(mapper, cls):
    for relation in mapper.relationships:
        if relation.viewonly and relation.direction is MANYTOONE and relation.parent is mapper:
            event.listen(getattr(cls, relation.key), "set", _refuse_assignment(relation))
