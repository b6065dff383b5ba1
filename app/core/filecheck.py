"""What an uploaded file is, decided by decoding it — not by its name or its first bytes.

Every upload path goes through `inspect_file` (app/core/storage.save_upload calls it; a domain that
keeps files elsewhere calls it itself):

- JPEG / PNG: decoded completely by Pillow (`verify`, then a full `load`), turned upright by its EXIF
  orientation and re-encoded — the stored file is the re-encoded one, so EXIF (GPS position, device,
  owner names), comments and anything appended after the image data are gone. More than
  IMAGE_MAX_PIXELS pixels is refused (decompression bombs).
- PDF: parsed by pypdf; refused when encrypted, when it has no readable page, or when any object
  reachable from the trailer carries active content: JavaScript, an /OpenAction or /AA action,
  launch/import/submit/GoToR actions, embedded files, XFA forms or rich media. A plain /OpenAction
  destination (an array: "open at page 1, fit width") is not an action and is kept.

Refusals raise ValidationFailed with a Chinese message for the form field."""
from __future__ import annotations

import io
from dataclasses import dataclass

from ..errors import ValidationFailed

IMAGE_MAX_PIXELS = 40_000_000          # 40 MP: larger than any phone photo, refuses decompression bombs
PDF_MAX_OBJECTS = 200_000

# (magic, mime, extensions)
SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"%PDF-", "application/pdf", (".pdf",)),
]
ALLOWED_TEXT = "JPG、PNG 图片或 PDF 文件"
IMAGE_TYPES = ("image/jpeg", "image/png")

# Dictionary keys that make a PDF act on its own when opened or viewed.
PDF_ACTIVE_KEYS = {"/JavaScript": "JavaScript 脚本", "/JS": "JavaScript 脚本", "/AA": "自动动作 (/AA)",
                   "/Launch": "启动外部程序的动作", "/EmbeddedFile": "嵌入文件", "/EmbeddedFiles": "嵌入文件",
                   "/RichMedia": "富媒体内容", "/XFA": "XFA 动态表单"}
PDF_ACTIVE_ACTIONS = {"/JavaScript": "JavaScript 脚本", "/Launch": "启动外部程序的动作",
                      "/ImportData": "导入数据的动作", "/SubmitForm": "提交表单的动作",
                      "/GoToR": "打开其他文件的动作", "/GoToE": "打开嵌入文件的动作", "/Rendition": "多媒体动作",
                      "/RichMediaExecute": "富媒体动作", "/Sound": "声音动作", "/Movie": "影片动作"}


@dataclass
class CheckedFile:
    mime: str
    data: bytes          # what to store: re-encoded for images, as uploaded for PDFs
    extensions: tuple[str, ...]


def sniff(head: bytes) -> tuple[str, tuple[str, ...]] | None:
    for magic, mime, exts in SIGNATURES:
        if head.startswith(magic):
            return mime, exts
    return None


def inspect_file(data: bytes, filename: str, field: str = "file",
                 allowed: tuple[str, ...] = ("image/jpeg", "image/png", "application/pdf")) -> CheckedFile:
    """Decode `data`; return what to store, or raise ValidationFailed({field: 中文提示})."""
    kind = sniff(data[:16])
    if kind is None or kind[0] not in allowed:
        names = "、".join({"image/jpeg": "JPG", "image/png": "PNG", "application/pdf": "PDF"}[m] for m in allowed)
        raise ValidationFailed({field: f"文件 {filename} 类型不允许，只能上传 {names} 文件"})
    mime, exts = kind
    if not filename.lower().endswith(exts):
        raise ValidationFailed({field: f"文件 {filename} 的扩展名与内容不符"})
    if mime in IMAGE_TYPES:
        return CheckedFile(mime, reencode_image(data, mime, filename, field), exts)
    check_pdf(data, filename, field)
    return CheckedFile(mime, data, exts)


def reencode_image(data: bytes, mime: str, filename: str, field: str = "file") -> bytes:
    from PIL import Image, ImageOps
    fmt = "JPEG" if mime == "image/jpeg" else "PNG"
    broken = ValidationFailed({field: f"图片 {filename} 已损坏或不是有效的 {'JPG' if fmt == 'JPEG' else 'PNG'} 图片，请重新拍摄或导出后上传"})
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != fmt:
                raise broken
            if probe.width * probe.height > IMAGE_MAX_PIXELS:
                raise ValidationFailed({field: f"图片 {filename} 像素过多（{probe.width}×{probe.height}），"
                                               f"请缩小到 {IMAGE_MAX_PIXELS // 1_000_000} 百万像素以内"})
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            out = io.BytesIO()
            if fmt == "JPEG":
                if upright.mode not in ("RGB", "L", "CMYK"):
                    upright = upright.convert("RGB")
                upright.save(out, "JPEG", quality=90, optimize=True)
            else:
                if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"):
                    upright = upright.convert("RGBA")
                upright.save(out, "PNG", optimize=False)
            return out.getvalue()
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed({field: f"图片 {filename} 像素过多，请缩小后上传"}) from None
    except Exception:        # any decoder error: the bytes are not the image they claim to be
        raise broken from None


def check_pdf(data: bytes, filename: str, field: str = "file") -> None:
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject
    broken = ValidationFailed({field: f"PDF 文件 {filename} 已损坏或无法解析，请重新导出后上传"})
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ValidationFailed({field: f"PDF 文件 {filename} 已加密，请上传未加密的文件"})
        if len(reader.pages) < 1:
            raise broken
        found = _active_content(reader.trailer, DictionaryObject, ArrayObject, IndirectObject)
    except ValidationFailed:
        raise
    except Exception:
        raise broken from None
    if found:
        raise ValidationFailed({field: f"PDF 文件 {filename} 含有{found}，出于安全原因不能上传；"
                                       "请打印为 PDF 或由扫描件重新生成后上传"})


def _active_content(root, DictionaryObject, ArrayObject, IndirectObject) -> str | None:
    """The first kind of active content reachable from the trailer, or None (iterative walk)."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    visited = 0
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                continue
            seen.add(ref)
            node = node.get_object()
        visited += 1
        if visited > PDF_MAX_OBJECTS:
            return "过多的对象"
        if isinstance(node, DictionaryObject):
            for key in node.keys():
                if key in PDF_ACTIVE_KEYS:
                    return PDF_ACTIVE_KEYS[key]
            action = node.get("/S")
            if action in PDF_ACTIVE_ACTIONS:
                return PDF_ACTIVE_ACTIONS[action]
            if node.get("/Subtype") == "/FileAttachment":
                return "文件附件批注"
            opening = node.get("/OpenAction")
            if opening is not None:
                target = opening.get_object() if isinstance(opening, IndirectObject) else opening
                if isinstance(target, DictionaryObject):
                    return "打开时自动执行的动作 (/OpenAction)"
            stack.extend(v for k, v in node.items() if k != "/Parent")
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return None
