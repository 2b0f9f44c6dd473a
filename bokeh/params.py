"""Declared settings of a method: one source for validation, the CLI and the app's controls."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bokeh.editing import parse_box, parse_refine
from bokeh.errors import BokehError, brief

KINDS = ("float", "int", "choice", "bool", "box", "refine")


@dataclass(frozen=True)
class Param:
    """A user-facing setting. ``kind`` is "float", "int", "choice", "bool", "box" (a box on
    the photo, x0,y0,x1,y1 pixels, or None) or "refine" (refine strokes or a painted mask, or
    None; see :mod:`bokeh.editing`)."""

    name: str
    kind: str
    default: Any
    label: str
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    allowed: tuple[int, ...] = ()  # int settings whose range has holes: the only valid values

    @property
    def metavar(self) -> str:
        """How the command line names this setting's value."""
        return {"int": "N", "box": "X0,Y0,X1,Y1", "refine": "JSON"}.get(self.kind, "X")

    def validate(self, value: Any) -> Any:
        """``value`` converted to this parameter's type, or a BokehError saying what is allowed."""
        if value is None:
            return self.default
        if self.kind == "choice":
            if value not in self.choices:
                raise BokehError(
                    f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}."
                )
            return value
        if self.kind == "bool":
            return bool(value)
        if self.kind == "box":
            return parse_box(value, self.name)
        if self.kind == "refine":
            return parse_refine(value, self.name)
        if isinstance(value, (str, bytes)) and len(value) > 64:
            raise BokehError(f"{self.name} must be a number; got {brief(value)}.")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise BokehError(f"{self.name} must be a number; got {brief(value)}.") from None
        if not math.isfinite(number):
            raise BokehError(f"{self.name} must be a finite number; got {brief(value)}.")
        if self.kind == "int":
            if number != int(number):
                raise BokehError(f"{self.name} must be a whole number; got {brief(value)}.")
            number = int(number)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise BokehError(
                f"{self.name} must lie between {self.minimum:g} and {self.maximum:g}; "
                f"got {brief(value)}."
            )
        if self.allowed and number not in self.allowed:
            raise BokehError(f"{self.name} must be {self.allowed_text()}; got {brief(value)}.")
        return number

    def allowed_text(self) -> str:
        """The values :attr:`allowed` holds, in words ("0 or 3 to 16")."""
        values = sorted(self.allowed)
        runs: list[list[int]] = []
        for v in values:
            if runs and v == runs[-1][-1] + 1:
                runs[-1].append(v)
            else:
                runs.append([v])
        parts = [f"{r[0]} to {r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs]
        return " or ".join(parts)


def validate_settings(params: tuple[Param, ...], settings: dict[str, Any], method: str) -> dict:
    """All declared settings, validated, with defaults filled in; unknown names are refused."""
    known = {p.name: p for p in params}
    extra = sorted(set(settings) - set(known))
    if extra:
        raise BokehError(
            f"{method} does not take {', '.join(extra)}; its settings are "
            f"{', '.join(known) or 'none'}."
        )
    return {name: p.validate(settings.get(name)) for name, p in known.items()}
