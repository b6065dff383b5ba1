"""Image captcha drawn server-side with Pillow: four characters from an alphabet without look-alikes
(no 0/O, 1/I/L, 2/Z, 5/S, 8/B), each rotated and offset, over noise lines and dots."""
from __future__ import annotations

import io
import secrets

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
LENGTH = 4
WIDTH, HEIGHT = 132, 48


def random_answer() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def _rand(lo: int, hi: int) -> int:
    return lo + secrets.randbelow(hi - lo + 1)


def render_png(answer: str) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), (244, 246, 250))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        draw.line([(_rand(0, WIDTH), _rand(0, HEIGHT)), (_rand(0, WIDTH), _rand(0, HEIGHT))],
                  fill=(_rand(120, 200), _rand(120, 200), _rand(120, 200)), width=1)
    font = ImageFont.load_default(size=30)
    step = (WIDTH - 16) // len(answer)
    for n, char in enumerate(answer):
        glyph = Image.new("RGBA", (40, 44), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((6, 2), char, font=font,
                                   fill=(_rand(10, 90), _rand(20, 90), _rand(60, 140), 255))
        glyph = glyph.rotate(_rand(-28, 28), resample=Image.BICUBIC, expand=False)
        image.paste(glyph, (8 + n * step + _rand(-3, 3), _rand(0, 6)), glyph)
    for _ in range(120):
        draw.point((_rand(0, WIDTH - 1), _rand(0, HEIGHT - 1)), fill=(_rand(80, 180),) * 3)
    image = image.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
