"""A confusion matrix as a PNG heatmap, written with zlib and struct only.

The Lambda runtime has neither numpy nor Pillow nor matplotlib, and a heatmap
needs nothing more than an RGB PNG: signature, IHDR, one zlib IDAT, IEND.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Final

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_BIT_DEPTH: Final = 8
_COLOR_TYPE_RGB: Final = 2
_TARGET_SIDE_PX: Final = 480
_MIN_CELL_PX: Final = 12
_MAX_CELL_PX: Final = 48
_MAX_SIDE_PX: Final = 2048  # many classes: smaller cells rather than a huge image

Rgb = tuple[int, int, int]
_WHITE: Final[Rgb] = (255, 255, 255)
_GRID: Final[Rgb] = (190, 190, 190)
_CORRECT: Final[Rgb] = (8, 69, 148)  # diagonal: blue
_CONFUSED: Final[Rgb] = (165, 15, 21)  # off-diagonal: red, so mistakes stand out


def encode_png_rgb(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes each."""
    if width < 1 or height < 1 or len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError(f"expected {height} rows of {3 * width} bytes for a {width}x{height} image")
    header = struct.pack(">IIBBBBB", width, height, _BIT_DEPTH, _COLOR_TYPE_RGB, 0, 0, 0)
    # Each scanline starts with its filter type; 0 (None) is enough for flat color blocks.
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    )


def cell_color(count: int, row_total: int, diagonal: bool) -> Rgb:
    """White for none, toward blue (correct) or red (confused) with the share of the true class.

    The share is square-rooted so that a 2% confusion is still visible next to a 98% diagonal.
    """
    share = count / row_total if row_total else 0.0
    intensity = math.sqrt(share)
    target = _CORRECT if diagonal else _CONFUSED
    red, green, blue = (round(w + (t - w) * intensity) for w, t in zip(_WHITE, target, strict=True))
    return red, green, blue


def render_confusion_png(matrix: Sequence[Sequence[int]], cell_px: int | None = None) -> bytes:
    """A square heatmap of ``matrix`` (rows: true class, columns: predicted class), 1 px grid lines."""
    size = len(matrix)
    if size == 0 or any(len(row) != size for row in matrix):
        raise ValueError("expected a non-empty square confusion matrix")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for row in matrix for n in row):
        raise ValueError("expected non-negative integer counts in the confusion matrix")
    cell = cell_px or _cell_size(size)
    side = size * (cell + 1) + 1
    grid_line = bytes(_GRID) * side
    rows = [grid_line]
    for true_class, counts in enumerate(matrix):
        total = sum(counts)
        line = bytearray(_GRID)
        for predicted, count in enumerate(counts):
            line += bytes(cell_color(count, total, predicted == true_class)) * cell
            line += bytes(_GRID)
        rows.extend([bytes(line)] * cell)
        rows.append(grid_line)
    return encode_png_rgb(side, side, rows)


def _cell_size(size: int) -> int:
    cell = min(_MAX_CELL_PX, max(_MIN_CELL_PX, _TARGET_SIDE_PX // size))
    if size * (cell + 1) + 1 > _MAX_SIDE_PX:
        cell = max(1, (_MAX_SIDE_PX - 1) // size - 1)
    return cell


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
