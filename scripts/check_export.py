#!/usr/bin/env python3
"""Reads one file of `sotp export` with DuckDB and with pyarrow; prints what each saw.

Usage: check_export.py FILE FORMAT [TIME_COLUMN] [VALUE_COLUMN]
Prints JSON: {"duckdb": {...}, "pyarrow": {...}}, each with rows, the sum of the value
column, the number of distinct values of `device` (when present) and the type of the
time column.
"""
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.json
import pyarrow.parquet as pq

path, fmt = sys.argv[1], sys.argv[2]
time_col = sys.argv[3] if len(sys.argv) > 3 else "time"
value_col = sys.argv[4] if len(sys.argv) > 4 else "value"

if fmt == "parquet":
    table = pq.read_table(path)
    source = f"read_parquet('{path}')"
elif fmt == "arrow":
    with pa.memory_map(path) as f:
        table = pa.ipc.open_file(f).read_all()
    # DuckDB has no reader for Arrow IPC files: it scans the Arrow table pyarrow read.
    arrow_table = table
    source = "arrow_table"
elif fmt == "csv":
    table = pyarrow.csv.read_csv(path)
    source = f"read_csv('{path}')"
elif fmt == "ndjson":
    table = pyarrow.json.read_json(path)
    source = f"read_json('{path}', format='newline_delimited')"
else:
    sys.exit(f"unknown format {fmt}")

def time_type(col):
    """The column's type; JSON has no timestamps, so a string column must parse as one."""
    t = str(table.schema.field(col).type)
    if t == "string":
        parsed = pc.cast(table[col], pa.timestamp("ns", tz="UTC"))
        t = f"string parsing as {parsed.type}"
    return t


con = duckdb.connect()
cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
devices = "count(DISTINCT device)" if "device" in cols else "NULL"
rows, total, ndev = con.execute(
    f"SELECT count(*), sum({value_col}), {devices} FROM {source}"
).fetchone()
out = {
    "duckdb": {
        "rows": rows,
        "sum": float(total) if total is not None else None,
        "devices": ndev,
        "time_type": types.get(time_col),
    },
    "pyarrow": {
        "rows": table.num_rows,
        "sum": float(pc.sum(table[value_col]).as_py() or 0) if table.num_rows else None,
        "devices": len(pc.unique(table["device"])) if "device" in cols else None,
        "time_type": time_type(time_col),
    },
}
print(json.dumps(out))
