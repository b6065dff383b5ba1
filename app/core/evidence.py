"""Evidence photos (现场照片): a photo taken in the page is decoded (Pillow — anything that is not a real
JPEG/PNG image is refused), turned upright, scaled to at most 2048 px, stamped with a visible watermark
(unit, person, object, time, place) in a CJK font, and stored through core/storage as a JPEG. A JPEG larger
than MAX_SIDE is decoded at half (quarter …) size by the JPEG decoder itself, which costs nothing extra. The SM3
digest of the bytes as received (the original) is returned beside the stored attachment, so the record
proves which original the stamped copy came from."""
from __future__ import annotations

import base64
import binascii
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
    """A Pillow RGB image of `data` (upright; a JPEG over MAX_SIDE decoded at 1/2, 1/4 … size), or
    ValidationFailed in Chinese."""
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
        if image.format == "JPEG" and max(image.size) > MAX_SIDE:
            # Decode at 1/2, 1/4 … (DCT scaling, nearly free) until it fits: no resampling pass after.
            scale = 2
            while max(image.size) / scale > MAX_SIDE:
                scale *= 2
            image.draft("RGB", (image.width // scale, image.height // scale))
        image.load()
        if image.getexif().get(0x0112, 1) != 1:        # EXIF orientation: only then turn it
            image = ImageOps.exif_transpose(image)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed({field: "照片无法解码，请重新拍摄"}) from None
    return image if image.mode == "RGB" else image.convert("RGB")


def decode_data_url(value, field: str, kinds=("image/jpeg", "image/png")) -> bytes:
    """The bytes of a photo taken in the page and sent as a data: URL (or bare base64)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed({field: "缺少照片"})
    text = value.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if head.split(";")[0][5:] not in kinds or not head.endswith(";base64"):
            raise ValidationFailed({field: "照片须为 JPG 或 PNG 图片"})
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed({field: "照片数据无法解码"}) from None


def stamp(data: bytes, lines: list[str], user: User, filename: str = "现场照片.jpg",
          field: str = "photo") -> StampedPhoto:
    """Decode, watermark and store one photo; returns the stored attachment and the original's SM3."""
    from PIL import Image, ImageDraw
    image = decode_image(data, field)
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR,
                             reducing_gap=2.0)
    width, height = image.size
    size = max(14, width // 40)
    font = _font(size)
    pad = size // 2
    line_h = int(size * 1.35)
    band = pad * 2 + line_h * len(lines)
    band = min(band, height)
    # Only the band at the bottom is blended (the rest of the picture is left as decoded).
    region = image.crop((0, height - band, width, height)).convert("RGBA")
    overlay = Image.new("RGBA", region.size, (0, 0, 0, 140))
    draw = ImageDraw.Draw(overlay)
    for n, text in enumerate(lines):
        draw.text((pad, pad + n * line_h), text, font=font, fill=(255, 255, 255, 255))
    image.paste(Image.alpha_composite(region, overlay).convert("RGB"), (0, height - band))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=False)
    out.seek(0)
    att = save_upload(FileStorage(out, filename=filename), user, field=field)
    return StampedPhoto(att, sm3_hex(data), width, height)
