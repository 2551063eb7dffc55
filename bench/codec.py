"""One CSV codec for frozen dataclass rows (results rows, ceilings).

Column names are the dataclass fields in order; each cell is parsed back to its field's
type as ``typing.get_type_hints`` reports it (``int``, ``float``, ``bool``, ``str`` and
their ``X | None`` forms, where an empty cell is ``None``). Both CSV formats gemmbench
writes go through here, so a new column is a new field and nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Union

__all__ = ["CodecError", "columns", "decode", "encode", "field_types"]


class CodecError(ValueError):
    """A cell cannot be parsed as its column's type; the message names the column."""


@functools.cache
def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Column -> (scalar type, whether empty means None), from the dataclass's resolved type hints."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[type, bool]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        optional = False
        if typing.get_origin(hint) in (Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional, hint = len(args) < len(typing.get_args(hint)), args[0]
        out[f.name] = (hint, optional)
    return out


def columns(cls: type) -> tuple[str, ...]:
    """The CSV header of ``cls``: its field names, in order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def encode(row: Any) -> list[str]:
    """The cells of one dataclass instance, in column order (None and NaN are empty)."""
    return [_cell(getattr(row, name)) for name in columns(type(row))]


def _parse(name: str, kind: type, optional: bool, text: str) -> object:
    if text == "" and optional:
        return None
    try:
        if kind is bool:
            if text not in ("True", "False"):
                raise ValueError(text)
            return text == "True"
        return kind(text)
    except ValueError:
        raise CodecError(f"column {name!r}: {text!r} is not a valid {kind.__name__}") from None


def decode(cls: type, raw: dict[str, str]) -> Any:
    """An instance of ``cls`` from a CSV record; unknown columns are ignored, missing ones take defaults."""
    types_ = field_types(cls)
    values = {k: _parse(k, *types_[k], v) for k, v in raw.items() if k in types_}
    return cls(**values)
