"""TF Serving's REST answers, written the way it writes them (tensorflow/serving ``util/json_tensor.cc``).

``row_format`` (``{"predictions": ...}``) and ``columnar_format`` (``{"outputs": ...}``) through a
port of the rapidjson PrettyWriter TF Serving uses, and ``error_json`` (``{"error": ...}``). Split
from ``tfs_emulation`` (which reads requests and runs the model) because byte-exact output is its
own concern: clients and the batch transform's joins parse these bytes.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np


class TfsError(Exception):
    """A TF Serving error status: ``status`` is the HTTP code its REST API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------
# rapidjson PrettyWriter, as TF Serving uses it (4-space indent, kFormatSingleLineArray per row)
# --------------------------------------------------------------------------------------------


class _PrettyWriter:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.levels: list[list[Any]] = []  # [in_array, value_count]
        self.single_line = False

    def _prefix(self) -> None:
        if not self.levels:
            return
        level = self.levels[-1]
        in_array, count = level
        if in_array:
            if count > 0:
                self.parts.append(", " if self.single_line else ",")
            if not self.single_line:
                self.parts.append("\n" + "    " * len(self.levels))
        else:
            if count > 0:
                self.parts.append(",\n" if count % 2 == 0 else ": ")
            else:
                self.parts.append("\n")
            if count % 2 == 0:
                self.parts.append("    " * len(self.levels))
        level[1] += 1

    def raw(self, text: str) -> None:
        self._prefix()
        self.parts.append(text)

    def key(self, name: str) -> None:
        self.raw(json.dumps(name, ensure_ascii=False))

    def start(self, array: bool) -> None:
        self._prefix()
        self.parts.append("[" if array else "{")
        self.levels.append([array, 0])

    def end(self) -> None:
        array, count = self.levels.pop()
        if count and not (array and self.single_line):
            self.parts.append("\n" + "    " * len(self.levels))
        self.parts.append("]" if array else "}")

    def text(self) -> str:
        return "".join(self.parts)


def _decimal(value: float, dtype: np.dtype[Any]) -> str:
    """json_tensor.cc ``WriteDecimal``: 6 significant digits unless that loses the value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    if dtype.type(float(text)) != dtype.type(value):
        text = f"{value:.{9 if dtype == np.float32 else 17}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _write_values(writer: _PrettyWriter, array: np.ndarray[Any, Any], as_bytes: bool) -> None:
    if array.ndim == 0:
        item = array.item()
        if array.dtype.kind == "f":
            writer.raw(_decimal(float(item), array.dtype))
        elif isinstance(item, bytes):
            if as_bytes:
                writer.start(array=False)
                writer.key("b64")
                writer.raw(json.dumps(base64.b64encode(item).decode()))
                writer.end()
            else:
                writer.raw(json.dumps(item.decode("utf-8", "replace"), ensure_ascii=False))
        else:
            writer.raw(json.dumps(item))
        return
    writer.start(array=True)
    for row in array:
        _write_values(writer, row, as_bytes)
    writer.end()


def row_format(outputs: dict[str, np.ndarray[Any, Any]]) -> str:
    """``MakeRowFormatJsonFromTensors``: one prediction per batch item, objects for several outputs."""
    sizes = {array.shape[0] if array.ndim else -1 for array in outputs.values()}
    if len(sizes) != 1 or -1 in sizes:
        raise TfsError(400, "Tensor outputs have inconsistent or missing batch sizes")
    writer = _PrettyWriter()
    writer.start(array=False)
    writer.key("predictions")
    writer.start(array=True)
    several = len(outputs) > 1
    for item in range(sizes.pop()):
        if several:
            writer.start(array=False)
        writer.single_line = True
        for name in sorted(outputs):
            if several:
                writer.key(name)
            _write_values(writer, outputs[name][item], name.endswith("_bytes"))
        writer.single_line = False
        if several:
            writer.end()
    writer.end()
    writer.end()
    return writer.text()


def columnar_format(outputs: dict[str, np.ndarray[Any, Any]]) -> str:
    writer = _PrettyWriter()
    writer.start(array=False)
    writer.key("outputs")
    several = len(outputs) > 1
    if several:
        writer.start(array=False)
    for name in sorted(outputs):
        if several:
            writer.key(name)
        _write_values(writer, outputs[name], name.endswith("_bytes"))
    if several:
        writer.end()
    writer.end()
    return writer.text()


def error_json(message: str) -> str:
    writer = _PrettyWriter()
    writer.start(array=False)
    writer.key("error")
    writer.raw(json.dumps(message, ensure_ascii=False))
    writer.end()
    return writer.text()
