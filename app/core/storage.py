"""Attachment storage: checked by decoding (app/core/filecheck.py), digested with SM3, stored by digest."""
from __future__ import annotations

import os

from flask import current_app
from werkzeug.datastructures import FileStorage

from ..errors import ValidationFailed
from ..extensions import db
from .gm import SM3Stream
from .models import Attachment, User

# The allowed types and how they are recognised: app/core/filecheck.py (decoded, not sniffed).
from .filecheck import ALLOWED_TEXT, SIGNATURES, inspect_file, sniff  # noqa: E402,F401 - re-exported


def save_upload(upload: FileStorage, user: User, field: str = "file",
                allowed: tuple[str, ...] = ("image/jpeg", "image/png", "application/pdf")) -> Attachment:
    """Read, decode (filecheck.inspect_file: images re-encoded without EXIF, PDFs without active
    content), digest with SM3 and store by digest. Raises ValidationFailed({field: 中文提示})."""
    filename = os.path.basename((upload.filename or "").replace("\\", "/"))[:200] or "附件"
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    stream = upload.stream
    chunks = []
    size = 0
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ValidationFailed({field: f"文件 {filename} 超过 {max_bytes // (1024 * 1024)}MB 上限"})
        chunks.append(chunk)
    if size == 0:
        raise ValidationFailed({field: "文件为空"})
    checked = inspect_file(b"".join(chunks), filename, field, allowed)
    data = checked.data
    digest = SM3Stream()
    digest.update(data)
    sm3 = digest.hexdigest()
    key = f"{sm3[:2]}/{sm3}"
    path = os.path.join(current_app.config["UPLOAD_DIR"], key)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    att = Attachment(filename=filename, mime=checked.mime, size=len(data), sm3=sm3, storage_key=key,
                     uploaded_by_id=user.id)
    db.session.add(att)
    db.session.flush()
    return att


def open_attachment(att: Attachment):
    return open(os.path.join(current_app.config["UPLOAD_DIR"], att.storage_key), "rb")


def attachment_response(att: Attachment):
    """Serve a stored file by the upload policy (docs/安全设计.md 上传文件策略): images — re-encoded on
    upload — may show in the page; anything else, PDFs included (kept as uploaded), is a download."""
    from flask import send_file
    inline = att.mime in ("image/jpeg", "image/png")
    return send_file(open_attachment(att), mimetype=att.mime, as_attachment=not inline, download_name=att.filename)

