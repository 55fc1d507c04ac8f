"""Numbers as strings for services that take strings (SageMaker hyperparameters, DynamoDB ``N``)."""

from __future__ import annotations

import math
from decimal import Decimal


def plain_decimal(value: int | float) -> str:
    """``value`` in positional notation, never with an exponent.

    ``str(1e-05)`` is ``'1e-05'``, which scripts parsing with ``int()`` or naive
    regexes misread; going through the shortest round-trip ``repr`` keeps every
    digit the float really has and nothing more: ``1e-05 -> '0.00001'``.
    Floats always keep a decimal point; ints never get one.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected an int or float, got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    text = format(Decimal(repr(value)), "f")
    # A float stays recognisably a float: 1e20 -> "100000000000000000000.0", like 1.0 -> "1.0".
    return text if "." in text else text + ".0"
