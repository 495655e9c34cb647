"""Converters for files that are not canonical exports (public price indexes, FX tables, ...).

The load recognises a canonical export by its file name (`applications*.csv`, ...). For any other
file it asks each converter in `CONVERTERS`, in order; the first that returns a `ConvertedFile`
wins. The converted rows then go through exactly the same validation, rejects, upsert and
idempotence path as a canonical file (the content hash is the source file's).

A converter module registers itself on import:

    from etl.sources import ConvertedFile, register

    @register
    def bea_rpp(path: Path) -> ConvertedFile | None:
        if not path.name.startswith("SARPP"):
            return None
        return ConvertedFile("cost_of_living", frame_in_contract_columns)

and is listed in `CONVERTER_MODULES` so the load imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is slow to import; only converters (and their callers) need it
    import pandas as pd


@dataclass(frozen=True)
class ConvertedFile:
    """Rows of one contract table converted from a non-canonical file.

    `frame` has the contract's column names (extra columns are ignored as for any file); values
    may be of any type, the load casts them to text and validates them like a CSV's. `lines`
    optionally gives each row's line in the source file for the rejects table.
    """

    table: str
    frame: pd.DataFrame
    note: str = ""
    lines: list[int] | None = field(default=None)


Converter = Callable[[Path], ConvertedFile | None]

CONVERTERS: list[Converter] = []
"""Consulted in order for files whose name matches no contract table."""

CONVERTER_MODULES: list[str] = ["etl.cost_of_living"]
"""Modules imported (once) before the converters are consulted, so they can `register`."""


def register(converter: Converter) -> Converter:
    """Add a converter to `CONVERTERS` (usable as a decorator); registering twice is a no-op."""
    if converter not in CONVERTERS:
        CONVERTERS.append(converter)
    return converter


def convert(path: Path) -> ConvertedFile | None:
    """The first converter's answer for `path`, or None when no converter recognises it."""
    for module in CONVERTER_MODULES:
        importlib.import_module(module)
    for converter in CONVERTERS:
        converted = converter(path)
        if converted is not None:
            return converted
    return None
