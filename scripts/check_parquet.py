#!/usr/bin/env python3
"""Reads SOTP's Parquet files with DuckDB and pyarrow (two engines that are not SOTP)
and prints what they see as JSON, so tests can compare it with SOTP's own answers.

usage: check_parquet.py DATA_DIR
"""
import glob
import json
import os
import sys

import duckdb
import pyarrow.parquet as pq


def main() -> None:
    data_dir = sys.argv[1]
    pattern = os.path.join(data_dir, "parquet", "metrics", "**", "*.parquet")
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        sys.exit(f"no parquet files match {pattern}")
    con = duckdb.connect()
    src = f"read_parquet('{pattern}', hive_partitioning = true)"
    rows, devices, dupes = con.execute(
        f"""SELECT count(*), count(DISTINCT device_id),
                   count(*) - count(DISTINCT (device_id, metric, instance, time))
            FROM {src}"""
    ).fetchone()
    up = dict(
        con.execute(
            f"""SELECT device_id, max(value) FROM {src}
                WHERE metric = 'icmp.up' GROUP BY device_id"""
        ).fetchall()
    )
    loss = dict(
        con.execute(
            f"""SELECT device_id, min(value) FROM {src}
                WHERE metric = 'icmp.loss_ratio' GROUP BY device_id"""
        ).fetchall()
    )
    # pyarrow reads every file on its own: each must be a complete, valid Parquet file.
    arrow_rows = sum(pq.read_table(f).num_rows for f in files)
    schema = pq.read_schema(files[0])
    print(
        json.dumps(
            {
                "files": len(files),
                "rows": rows,
                "pyarrow_rows": arrow_rows,
                "devices": devices,
                "duplicate_rows": dupes,
                "max_up": up,
                "min_loss": loss,
                "columns": schema.names,
                "time_type": str(schema.field("time").type),
            }
        )
    )


if __name__ == "__main__":
    main()
