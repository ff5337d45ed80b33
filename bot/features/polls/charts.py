"""The results chart: a PNG that reads on its own, with the question, every option's name, its count and
percentage, and a line saying what the percentages are of.

Drawn with Pillow and its bundled font (a real, scalable typeface): a few MB installed, one image of about a megabyte in
memory while drawn, instead of a hand-written PNG encoder with a 5x7 digit font.
"""

from __future__ import annotations

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

WIDTH = 720
PAD = 20
ROW = 54  # an option's name above its bar
BG, INK, MUTED, BAR, TRACK = (255, 255, 255), (34, 36, 44), (96, 100, 112), (91, 125, 177), (228, 232, 240)
_FONTS: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at one size, loaded once (a few hundred KB, shared by every chart)."""
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def fit(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """The text, shortened with an ellipsis to fit `width` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def results_chart_png(question: str, options: tuple[str, ...], counts: tuple[int, ...], base: int,
                      note: str) -> bytes:
    """One labelled horizontal bar per option: "1. Name" above, the bar, "12 (40%)" at its end."""
    title_lines = textwrap.wrap(question, 60)[:3] or [""]
    note_lines = textwrap.wrap(note, 90)[:2]
    top = PAD + 28 * len(title_lines) + 20 * len(note_lines) + 12
    height = top + ROW * len(options) + PAD
    image = Image.new("RGB", (WIDTH, height), BG)  # 720 x 600 is 1.3 MB while drawn, freed on return
    draw = ImageDraw.Draw(image)
    y = PAD
    for line in title_lines:
        draw.text((PAD, y), line, fill=INK, font=font(22))
        y += 28
    for line in note_lines:
        draw.text((PAD, y), line, fill=MUTED, font=font(14))
        y += 20
    label_face, value_face = font(16), font(15)
    value_w = 110
    bar_x0, bar_x1 = PAD, WIDTH - PAD - value_w
    for i, (option, count) in enumerate(zip(options, counts, strict=True)):
        y = top + i * ROW
        draw.text((PAD, y), fit(draw, f"{i + 1}. {option}", label_face, WIDTH - 2 * PAD), fill=INK, font=label_face)
        share = count / base if base else 0.0
        bar_y = y + 24
        draw.rectangle((bar_x0, bar_y, bar_x1, bar_y + 16), fill=TRACK)
        if count:
            draw.rectangle((bar_x0, bar_y, bar_x0 + max(2, round((bar_x1 - bar_x0) * min(share, 1.0))), bar_y + 16),
                           fill=BAR)
        draw.text((bar_x1 + 10, bar_y - 1), f"{count} ({share:.0%})", fill=INK, font=value_face)
    out = io.BytesIO()
    # A 32-colour palette keeps the antialiased text and makes the file a third of the size; the fast octree
    # quantizer keeps a 22-option chart near 40 ms (median cut with optimize took twice that).
    image.quantize(colors=32, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()
