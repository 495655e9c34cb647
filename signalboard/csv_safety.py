"""CSV that a spreadsheet opens as data, never as formulas (the OWASP CSV injection rule).

A cell is *dangerous* when it is text that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return: Excel, LibreOffice and Google Sheets evaluate it (`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`,
`@SUM(...)`). OWASP's rule (https://owasp.org/www-community/attacks/CSV_Injection) is to prefix
such a cell with a single quote, which the spreadsheet shows as text. Numbers are never touched:
a numeric column (`-3.5`, a date, a boolean) is written exactly as pandas writes it, so only
strings that came from data or from a query change.

Every CSV signalboard writes goes through `to_csv_bytes` or `neutralise_frame`: `signalboard
query --format csv`, the files of `signalboard report` and the dashboard's downloads.

`to_csv_bytes` writes through DuckDB's CSV writer when every column has a type whose text DuckDB
writes as pandas does (whole numbers, float64, booleans, text, whole-second timestamps), and
through pandas otherwise. pandas formats each float cell in Python, several times slower on a
report table of a hundred thousand rows (docs/performance.md). The two agree byte for byte on
those types (tests/signalboard/test_sandbox_csv.py), except that DuckDB writes an empty text as
`""` and a missing value as nothing, where pandas writes both as nothing, and DuckDB also quotes a
text that holds a carriage return. A frame of one column stays with pandas, which writes a
missing value there as `""`: a blank line would be skipped by a reader.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
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
    """`frame` as UTF-8 CSV without the index, every dangerous text cell neutralised.

    Examples
    --------
    >>> import pandas as pd
    >>> to_csv_bytes(pd.DataFrame({"role": ["=1+1", "analyst"], "gap": [-0.5, 2.0]}))
    b"role,gap\\n'=1+1,-0.5\\nanalyst,2.0\\n"
    """
    safe = neutralise_frame(frame)
    written = _duckdb_csv(safe)
    return written if written is not None else safe.to_csv(index=False).encode("utf-8")


def _duckdb_csv(frame: pd.DataFrame) -> bytes | None:
    """`frame` written by DuckDB, or None when a column's type is one DuckDB writes differently.

    pandas writes a boolean as `True`, DuckDB as `true`: booleans go in as that text. A timestamp
    column whose values are all midnight is written by pandas as dates: it goes in as dates.
    pandas writes a column's fractional seconds to one precision, DuckDB to each value's own, and
    float32 through numpy's formatting: such columns, and every other type, stay with pandas.
    """
    import duckdb
    import numpy as np
    import pandas as pd

    names = list(frame.columns)
    if (
        len(names) < 2
        or not all(isinstance(name, str) for name in names)
        or len(set(names)) != len(names)
    ):
        return None
    columns: dict[str, Any] = {}
    as_dates: list[str] = []
    for name in names:
        column = frame[name]
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype):
            text = np.where(column.fillna(False).to_numpy(dtype=bool), "True", "False")
            columns[name] = pd.Series(text, dtype=object).where(column.notna().to_numpy(), None)
        elif isinstance(dtype, np.dtype) and dtype.kind == "M":
            ticks = column.to_numpy().astype("datetime64[us]").astype(np.int64)[column.notna()]
            if (ticks % 1_000_000).any():
                return None
            if not (ticks % 86_400_000_000).any():
                as_dates.append(name)
            columns[name] = column
        elif pd.api.types.is_integer_dtype(dtype) or dtype == np.float64:
            columns[name] = column
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            # Whole numbers and floats kept as objects (a count blanked where it is suppressed)
            # are written by pandas as str() of each, which is the typed column's text too.
            kind = pd.api.types.infer_dtype(column, skipna=True)
            if kind in ("string", "empty"):
                columns[name] = column
            elif kind == "integer" and pd.api.types.is_object_dtype(dtype):
                try:
                    columns[name] = pd.array(column.to_numpy(), dtype="Int64")
                except (OverflowError, TypeError, ValueError):
                    return None
            elif kind == "floating" and pd.api.types.is_object_dtype(dtype):
                columns[name] = column.astype(np.float64)
            else:
                return None
        else:
            return None
    # Positional names inside DuckDB, so no column name is ever SQL; the header is written back.
    inner = pd.DataFrame({f"c{i}": columns[name] for i, name in enumerate(names)})
    with _writer().cursor() as con, tempfile.TemporaryDirectory(prefix="signalboard-csv-") as tmp:
        relation = con.from_df(inner)
        selected = [
            duckdb.ColumnExpression(f"c{i}").cast(duckdb.sqltypes.DATE).alias(f"c{i}")
            if name in as_dates
            else duckdb.ColumnExpression(f"c{i}")
            for i, name in enumerate(names)
        ]
        path = Path(tmp) / "frame.csv"
        relation.select(*selected).write_csv(str(path), header=False)
        body = path.read_bytes()
    header = pd.DataFrame(columns=names).to_csv(index=False).encode("utf-8")
    return header + body


@functools.cache
def _writer() -> Any:
    """One in-memory DuckDB database for every CSV this process writes (a cursor per call).

    Opening a database costs more than writing a small download does (docs/performance.md).
    """
    import duckdb

    return duckdb.connect(":memory:")


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
