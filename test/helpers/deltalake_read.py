#!/usr/bin/env python3
"""Independent Delta reader for tests: reads a table with delta-rs (the `deltalake` package) and
prints one JSON document on stdout.

Usage: deltalake_read.py TABLE_DIR [--version N] [--app-id ID ...]
TABLE_DIR may be az://… or s3://…; delta-rs storage options (credentials) then come as JSON in the environment
variable DELTALAKE_STORAGE_OPTIONS, never on the command line.

Output: {"version", "numRows", "rows", "protocol", "schema", "metadata", "files", "appTransactions"}.
Values are normalised so that they can be compared with DuckDB output without precision loss:
long -> decimal string, integer -> number, double -> number (NaN/Infinity as strings),
timestamp -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC), date -> 'YYYY-MM-DD', decimal(p,s) -> exact
plain text with s fraction digits ('-12.50'), binary -> lowercase hex, boolean, string, null.
Rows are in file order; the TypeScript side sorts them.
Exit codes: 0 ok, 2 usage, 3 deltalake/pyarrow missing, 4 the table could not be read.
"""
import argparse
import datetime as dt
import decimal
import json
import math
import os
import sys


def fail(code, msg):
    print(msg, file=sys.stderr)
    sys.exit(code)


def norm(delta_type, v):
    if v is None:
        return None
    if delta_type == "long":
        return str(int(v))
    if delta_type == "integer":
        return int(v)
    if delta_type == "double":
        f = float(v)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if delta_type == "timestamp":
        if v.tzinfo is None:
            raise ValueError("timestamp without time zone from delta-rs; expected a UTC-adjusted timestamp")
        u = v.astimezone(dt.timezone.utc)
        return u.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % u.microsecond
    if delta_type == "date":
        return "%04d-%02d-%02d" % (v.year, v.month, v.day)
    if isinstance(delta_type, str) and delta_type.startswith("decimal("):
        scale = int(delta_type[len("decimal("):-1].split(",")[1])
        # quantize keeps the scale's trailing zeros; 'f' never prints an exponent (Decimal('0E-10') -> '0.0000000000')
        with decimal.localcontext() as ctx:
            ctx.prec = 80  # the default 28 digits cannot hold decimal(38,s)
            return format(v.quantize(decimal.Decimal(1).scaleb(-scale)), "f")
    if delta_type == "binary":
        return bytes(v).hex()
    if delta_type == "boolean":
        return bool(v)
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table_dir")
    ap.add_argument("--version", type=int, default=None)
    ap.add_argument("--app-id", action="append", default=[])
    args = ap.parse_args()

    try:
        from deltalake import DeltaTable
        import pyarrow  # noqa: F401  (to_pyarrow_table needs it)
    except ImportError as e:
        fail(3, "deltalake_read.py needs the Python packages 'deltalake' and 'pyarrow' (%s) in %s" % (e, sys.executable))

    try:
        options = json.loads(os.environ.get("DELTALAKE_STORAGE_OPTIONS") or "{}") or None
        table = DeltaTable(args.table_dir, version=args.version, storage_options=options)
        schema = json.loads(table.schema().to_json())
        fields = [{"name": f["name"], "type": f["type"], "nullable": f["nullable"]} for f in schema["fields"]]
        data = table.to_pyarrow_table()
        types = {f["name"]: f["type"] for f in fields}
        rows = [{k: norm(types.get(k), v) for k, v in r.items()} for r in data.to_pylist()]
        p = table.protocol()
        md = table.metadata()
        remote = "://" in args.table_dir
        root = args.table_dir.rstrip("/") + "/" if remote else os.path.realpath(args.table_dir)
        files = []
        for uri in table.file_uris():
            if remote:
                files.append(uri[len(root):] if uri.startswith(root) else uri)
                continue
            local = uri[len("file://"):] if uri.startswith("file://") else uri
            files.append(os.path.relpath(os.path.realpath(local), root))
        apps = {a: table.transaction_version(a) for a in args.app_id}
        out = {
            "version": table.version(),
            "numRows": data.num_rows,
            "rows": rows,
            "protocol": {
                "minReaderVersion": p.min_reader_version,
                "minWriterVersion": p.min_writer_version,
                "readerFeatures": p.reader_features,
                "writerFeatures": p.writer_features,
            },
            "schema": fields,
            "metadata": {
                "id": md.id,
                "name": md.name,
                "description": md.description,
                "partitionColumns": list(md.partition_columns),
                "configuration": dict(md.configuration),
            },
            "files": sorted(files),
            "appTransactions": apps,
        }
    except Exception as e:  # report any delta-rs failure as a clear message, not a traceback
        fail(4, "deltalake could not read %s: %s: %s" % (args.table_dir, type(e).__name__, e))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: delta-rs' runtime threads can abort it ("terminate called without an
    # active exception", seen in CI) after the result was already written. The output is complete here.
    sys.stdout.flush()
    os._exit(0)
