"""Attachment storage: checked by content (not name), digested with SM3, stored by digest."""
from __future__ import annotations

import os

from flask import current_app
from werkzeug.datastructures import FileStorage

from ..errors import ValidationFailed
from ..extensions import db
from .gm import SM3Stream
from .models import Attachment, User

# Allowed types, recognised by their first bytes.
SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"%PDF-", "application/pdf", (".pdf",)),
]
ALLOWED_TEXT = "JPG、PNG 图片或 PDF 文件"


def sniff(head: bytes) -> tuple[str, tuple[str, ...]] | None:
    for magic, mime, exts in SIGNATURES:
        if head.startswith(magic):
            return mime, exts
    return None


def save_upload(upload: FileStorage, user: User, field: str = "file") -> Attachment:
    filename = os.path.basename((upload.filename or "").replace("\\", "/"))[:200] or "附件"
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    stream = upload.stream
    head = stream.read(16)
    kind = sniff(head)
    if kind is None:
        raise ValidationFailed({field: f"文件 {filename} 类型不允许，只能上传 {ALLOWED_TEXT}"})
    mime, exts = kind
    if not filename.lower().endswith(exts):
        raise ValidationFailed({field: f"文件 {filename} 的扩展名与内容不符"})
    digest = SM3Stream()
    digest.update(head)
    chunks = [head]
    size = len(head)
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ValidationFailed({field: f"文件 {filename} 超过 {max_bytes // (1024 * 1024)}MB 上限"})
        digest.update(chunk)
        chunks.append(chunk)
    if size == 0:
        raise ValidationFailed({field: "文件为空"})
    sm3 = digest.hexdigest()
    key = f"{sm3[:2]}/{sm3}"
    path = os.path.join(current_app.config["UPLOAD_DIR"], key)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, path)
    att = Attachment(filename=filename, mime=mime, size=size, sm3=sm3, storage_key=key, uploaded_by_id=user.id)
    db.session.add(att)
    db.session.flush()
    return att


def open_attachment(att: Attachment):
    return open(os.path.join(current_app.config["UPLOAD_DIR"], att.storage_key), "rb")
