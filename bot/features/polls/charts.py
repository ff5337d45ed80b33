"""A small PNG bar chart for poll results, drawn without any imaging library.

Bars are labelled with the option number and the percentage in a built-in 5x7 pixel font, so the chart reads
next to the numbered option list in the message. Pure Python: a plotting stack would add ~50 MB to the bot for
one picture.
"""

from __future__ import annotations

import struct
import zlib

_FONT = {  # 5x7 glyphs, one string of 5 bits per row
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    "%": ["11001", "11010", "00010", "00100", "01000", "01011", "10011"],
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    " ": ["00000"] * 7,
}
_BG = (255, 255, 255)
_BAR = (88, 101, 242)
_TRACK = (230, 232, 240)
_INK = (40, 40, 48)
_SCALE = 2  # font pixels are drawn 2x2


def bar_chart_png(counts: list[int], width: int = 480) -> bytes:
    """One horizontal bar per option: '1' label, bar proportional to its share, '42%' at the end."""
    total = sum(counts) or 1
    row_h, pad = 28, 12
    height = pad * 2 + row_h * max(1, len(counts))
    pixels = [[_BG] * width for _ in range(height)]

    def rect(x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(height, y1)):
            row = pixels[y]
            for x in range(max(0, x0), min(width, x1)):
                row[x] = colour

    def text(x: int, y: int, s: str) -> None:
        for ch in s:
            glyph = _FONT.get(ch, _FONT[" "])
            for gy, bits in enumerate(glyph):
                for gx, bit in enumerate(bits):
                    if bit == "1":
                        rect(x + gx * _SCALE, y + gy * _SCALE, x + (gx + 1) * _SCALE, y + (gy + 1) * _SCALE, _INK)
            x += 6 * _SCALE

    label_w, value_w = 40, 70
    bar_x0, bar_x1 = pad + label_w, width - pad - value_w
    for i, count in enumerate(counts):
        y = pad + i * row_h
        text(pad, y + 6, str(i + 1))
        rect(bar_x0, y + 4, bar_x1, y + row_h - 6, _TRACK)
        rect(bar_x0, y + 4, bar_x0 + round((bar_x1 - bar_x0) * count / total), y + row_h - 6, _BAR)
        text(bar_x1 + 8, y + 6, f"{round(100 * count / total)}%")
    return _png(width, height, pixels)


def _png(width: int, height: int, pixels: list[list[tuple[int, int, int]]]) -> bytes:
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
