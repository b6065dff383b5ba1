"""Imported by create_app: the models, the BPMN functions and the document types of the domain."""
from . import models  # noqa: F401
from . import services  # noqa: F401
from . import business_registry  # noqa: F401 - its adapters
from . import campaigns  # noqa: F401
from . import documents  # noqa: F401
