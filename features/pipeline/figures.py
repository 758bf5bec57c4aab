"""The figures a run stores, made canonical once, where they are stored: a zero is always +0.0 and a figure that is
not a finite number is refused.

A negated zero priority (a feature whose best window peaks at 0) is -0.0; stored as is, it reads back as -0.0 on a
fresh database and as 0.0 once an UPDATE has cast it, and a page or an export shows "-0.0". Adding +0.0 turns -0.0
into 0.0 and leaves every other number as it is (IEEE 754), so no figure changes value. NaN and infinities are
not figures: JSON cannot hold them and no reference would show them."""

import math

import numpy as np


class FigureError(ValueError):
    """A figure that is not a finite number."""


def stored_figure(value: float, *, what: str = "a figure") -> float:
    """One figure as a Python float, +0.0 for either zero; FigureError if it is NaN or infinite."""
    value = float(value)
    if not math.isfinite(value):
        raise FigureError(f"{what} is {value}, not a finite number")
    return value + 0.0


def stored_figures(values: np.ndarray, *, what: str = "a figure") -> np.ndarray:
    """An array of figures, +0.0 for either zero, in a new array of the same dtype; FigureError on NaN or
    infinity, naming the first one's position."""
    values = np.asarray(values)
    finite = np.isfinite(values)
    if not finite.all():
        position = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise FigureError(f"{what} at {position} is {values[position]}, not a finite number")
    return values + values.dtype.type(0)
