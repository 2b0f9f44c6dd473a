"""Declared settings of a method: one source for validation, the CLI and the app's controls."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bokeh.errors import BokehError


@dataclass(frozen=True)
class Param:
    """A user-facing setting. ``kind`` is "float", "int", "choice" or "bool"."""

    name: str
    kind: str
    default: Any
    label: str
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()

    def validate(self, value: Any) -> Any:
        """``value`` converted to this parameter's type, or a BokehError saying what is allowed."""
        if value is None:
            return self.default
        if self.kind == "choice":
            if value not in self.choices:
                raise BokehError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}.")
            return value
        if self.kind == "bool":
            return bool(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BokehError(f"{self.name} must be a number; got {value!r}.") from None
        if not math.isfinite(number):
            raise BokehError(f"{self.name} must be a finite number; got {value!r}.")
        if self.kind == "int":
            if number != int(number):
                raise BokehError(f"{self.name} must be a whole number; got {value!r}.")
            number = int(number)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise BokehError(
                f"{self.name} must lie between {self.minimum:g} and {self.maximum:g}; got {value!r}."
            )
        return number


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
