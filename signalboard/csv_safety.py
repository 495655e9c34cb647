"""CSV that a spreadsheet opens as data, never as formulas (the OWASP CSV injection rule).

A cell is *dangerous* when it is text that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return: Excel, LibreOffice and Google Sheets evaluate it (`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`,
`@SUM(...)`). OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection) is to prefix
such a cell with a single quote, which the spreadsheet shows as text. Numbers are never touched:
a numeric column (`-3.5`, a date, a boolean) is written exactly as pandas writes it, so only
strings that came from data or from a query change.

Every CSV signalboard writes goes through `to_csv_bytes` or `neutralise_frame`: `signalboard
query --format csv`, the files of `signalboard report` and the dashboard's downloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """`value` with a leading `'` when it is a string a spreadsheet would evaluate; else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names are neutralised; numbers unchanged.

    Only columns that can hold strings (object, string and categorical dtypes) are scanned; a
    numeric, date or boolean column is left as it is, negative numbers included.
    """
    import pandas as pd

    out = frame.copy(deep=False)
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        elif not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        if _has_formula(column):
            out.isetitem(position, column.map(neutralise_cell))
    out.columns = [neutralise_cell(name) for name in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV without the index, every dangerous text cell neutralised."""
    return neutralise_frame(frame).to_csv(index=False).encode("utf-8")


def _has_formula(column: pd.Series) -> bool:
    """Whether any cell of `column` is text a spreadsheet would evaluate.

    Only the distinct values are looked at (a report column of 100,000 cells has a few thousand
    at most); a column whose cells cannot be hashed (lists from a query) is scanned cell by cell.
    """
    import pandas as pd

    try:
        values = pd.unique(column.to_numpy(dtype=object))
    except TypeError:
        values = column.to_numpy(dtype=object)
    return any(isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values)
