"""Excel export with openpyxl's write-only mode: rows are streamed, memory stays flat."""
from __future__ import annotations

import os
import tempfile
from typing import Iterable
from urllib.parse import quote

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font


def stream_xlsx(sheet_title: str, headers: list[str], rows: Iterable[list], filename: str) -> Response:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title[:31])
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = Font(bold=True)
        header_cells.append(cell)
    ws.append(header_cells)
    for row in rows:
        ws.append(row)
    # openpyxl writes the zip at save(); a temp file keeps large exports out of memory.
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    wb.save(path)

    def generate():
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(256 * 1024):
                    yield chunk
        finally:
            os.unlink(path)
    return Response(generate(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})
