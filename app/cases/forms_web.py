"""HTML form <-> data: read a submitted form (fields and files) for a JSON Schema form."""
from __future__ import annotations

from ..core.storage import save_upload
from ..engine.forms import date_bounds, ordered_fields
from .widgets import options_for


def read_submission(schema: dict, form, files, user) -> dict:
    """Text fields as strings; file widgets as attachment ids (kept ones + new uploads).

    New uploads are stored inside the caller's transaction: a failed submission rolls them back."""
    data: dict = {}
    for name, spec in ordered_fields(schema):
        if spec.get("ui:widget") == "files":
            ids = [int(v) for v in form.getlist(name) if str(v).isdigit()]
            for upload in files.getlist(f"{name}__upload"):
                if upload and upload.filename:
                    ids.append(save_upload(upload, user, field=name).id)
            if ids:
                data[name] = ids
        elif spec.get("type") == "array":
            values = [v for v in form.getlist(name) if v]
            if values:
                data[name] = values
        else:
            value = form.get(name)
            if value is not None:
                data[name] = value.strip()
    return data


def submitted_values(schema: dict, form) -> dict:
    """What was submitted, to show again after a failed submission: every value of a
    multi-select (array) field, the first value of any other field."""
    values = form.to_dict()
    for name, spec in ordered_fields(schema):
        if spec.get("type") == "array" and spec.get("ui:widget") != "files":
            values[name] = [v for v in form.getlist(name) if v]
    return values


def field_views(schema: dict, values: dict, errors: dict, user) -> list[dict]:
    """What the template needs to draw each field."""
    required = set(schema.get("required", []))
    for branch in schema.get("allOf", []):
        required |= set(branch.get("then", {}).get("required", []))   # conditionally required: marked too
    views = []
    for name, spec in ordered_fields(schema):
        widget = spec.get("ui:widget") or ("radio" if spec.get("enum") else "text")
        options = None
        if spec.get("enum"):
            labels = spec.get("ui:enumNames") or spec["enum"]
            options = list(zip(spec["enum"], labels))
        elif widget not in ("text", "textarea", "date", "files", "equipment"):
            options = options_for(widget, user)
        show_if = spec.get("ui:showIf")
        # An array field with a provider widget is a multi-select: drawn as checkboxes.
        multiple = spec.get("type") == "array" and widget != "files"
        value = values.get(name)
        if multiple and value is not None and not isinstance(value, list):
            value = [value]
        min_date, max_date = date_bounds(spec) if widget == "date" else (None, None)
        views.append({"name": name, "label": spec.get("title", name), "widget": widget, "options": options,
                      "min_date": min_date, "max_date": max_date, "depends_on": spec.get("ui:filterBy"),
                      "multiple": multiple,
                      "help": spec.get("ui:help"), "accept": spec.get("ui:accept"),
                      "required": name in required, "value": value, "error": errors.get(name),
                      "show_if": show_if, "max_length": spec.get("maxLength")})
    return views
