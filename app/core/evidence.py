"""Evidence photos (现场照片): a photo taken in the page is decoded (Pillow — anything that is not a real
JPEG/PNG image is refused), turned upright, scaled to at most 2048 px, stamped with a visible watermark
(unit, person, object, time, place) in a CJK font, and stored through core/storage as a JPEG. The SM3
digest of the bytes as received (the original) is returned beside the stored attachment, so the record
proves which original the stamped copy came from."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache

from werkzeug.datastructures import FileStorage

from ..errors import ValidationFailed
from .gm import sm3_hex
from .models import Attachment, User
from .storage import save_upload

MAX_SIDE = 2048
MAX_PIXELS = 40_000_000          # refuse decompression bombs before decoding
FONT_CANDIDATES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                   "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
                   "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@dataclass
class StampedPhoto:
    attachment: Attachment
    original_sm3: str
    width: int
    height: int


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont
    for path in FONT_CANDIDATES:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def decode_image(data: bytes, field: str = "photo"):
    """A Pillow image of `data`, or ValidationFailed in Chinese."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    if not data:
        raise ValidationFailed({field: "照片为空"})
    try:
        probe = Image.open(io.BytesIO(data))
        if probe.format not in ("JPEG", "PNG"):
            raise ValidationFailed({field: "照片须为 JPG 或 PNG 图片"})
        if probe.width * probe.height > MAX_PIXELS:
            raise ValidationFailed({field: "照片像素过大"})
        probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
        image = ImageOps.exif_transpose(image)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed({field: "照片无法解码，请重新拍摄"}) from None
    return image.convert("RGB")


def stamp(data: bytes, lines: list[str], user: User, filename: str = "现场照片.jpg",
          field: str = "photo") -> StampedPhoto:
    """Decode, watermark and store one photo; returns the stored attachment and the original's SM3."""
    from PIL import Image, ImageDraw
    image = decode_image(data, field)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    width, height = image.size
    size = max(14, width // 40)
    font = _font(size)
    pad = size // 2
    line_h = int(size * 1.35)
    band = pad * 2 + line_h * len(lines)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle([0, height - band, width, height], fill=(0, 0, 0, 140))
    for n, text in enumerate(lines):
        draw.text((pad, height - band + pad + n * line_h), text, font=font, fill=(255, 255, 255, 255))
    stamped = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    stamped.save(out, "JPEG", quality=82, optimize=False)
    out.seek(0)
    att = save_upload(FileStorage(out, filename=filename), user, field=field)
    return StampedPhoto(att, sm3_hex(data), width, height)
