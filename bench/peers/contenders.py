"""The peer contenders of ``make bench-peers``, each run alone in a fresh child process of the peers' venv.

    .venv-peers/bin/python -m bench.peers.contenders SPEC.json RESULT.json

SPEC names the contender, the engine, the warehouse URL and the files (path, table, record-id column, encoding,
a date column and its format), as ``bench.peers.run`` writes it. The child imports what the contender needs
(timed: ``import_seconds``), loads every file it takes (timed: ``work_seconds``), then counts the rows in the
destination (not timed) and writes RESULT: times, rows per table, peak RSS of the process (``ru_maxrss``; the
larger of itself and its own children, so a worker pool counts).

Contenders (what each does and does not do is in docs/benchmarks.md):

* ``dlt_arrow``: each CSV read by ``pyarrow.csv.read_csv`` (types inferred by pyarrow; ``newlines_in_values``,
  as narratives span lines) into one Arrow table,
  rows without a record id dropped (a merge key cannot be null), every file a dlt resource with
  ``write_disposition="merge"`` and the record id as ``primary_key``, all in one ``pipeline.run``.
* ``dlt_dict``: the same, with rows as Python dicts from ``csv.DictReader`` (all strings) yielded in pages of
  10,000, plus the LFPSE NDJSON file as dicts (``json.loads`` per line, malformed lines skipped, nested values
  kept as JSON: ``max_table_nesting=0``) merged on its ``id``.
* ``pandas``: ``pandas.read_csv`` (types inferred), then ``DataFrame.to_sql(if_exists="append", index=False,
  method=None, chunksize=10_000)`` through SQLAlchemy (duckdb-engine; psycopg 3): the default method, one
  ``executemany`` per chunk.
* ``pandas_gx``: the same, each frame first validated by a GX 1.x suite (record id not null; the date column
  matches its export format); the frame is loaded whatever the result (nothing is quarantined).
* ``raw``: DuckDB ``CREATE TABLE … AS SELECT * FROM read_csv(…, all_varchar = true)`` per file (Windows-1252
  files transcoded to a UTF-8 copy first, inside the timing: DuckDB reads only UTF-8/Latin-1/UTF-16 without its
  ``encodings`` extension), and the NDJSON lines with ``read_json_objects(…, ignore_errors = true)``;
  PostgreSQL ``COPY … FROM STDIN (FORMAT csv, HEADER, ENCODING …)`` of each file's bytes into a table of text
  columns (the server transcodes Windows-1252), the NDJSON file's lines into a one-column text table.

Only the standard library is imported at module level: the harness's parent imports nothing from here.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PAGE = 10_000


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux: KiB


def _csv_files(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in spec["files"] if f["kind"] == "csv"]


def _ndjson_files(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in spec["files"] if f["kind"] == "ndjson"]


def _pg_dsn(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy) -> ``postgresql://…`` (libpq)."""
    return "postgresql://" + url.split("://", 1)[1]


def _duckdb_path(url: str) -> str:
    return url.split(":///", 1)[1]


# --- dlt -------------------------------------------------------------------------------------------------------


def _dlt_imports(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no network here
    import dlt
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    from dlt.destinations import duckdb as dlt_duckdb
    from dlt.destinations import postgres as dlt_postgres

    if spec["engine"] == "duckdb":
        import duckdb  # noqa: F401 - what the destination imports when it connects
    else:
        import psycopg2  # noqa: F401
    return {"dlt": dlt, "pa": pa, "pc": pc, "pacsv": pacsv, "duckdb": dlt_duckdb, "postgres": dlt_postgres}


def _dlt_pipeline(spec: dict[str, Any], m: dict[str, Any], name: str) -> Any:
    if spec["engine"] == "duckdb":
        destination = m["duckdb"](_duckdb_path(spec["url"]))
    else:
        # dlt insists on a password; the bench's server trusts local connections and ignores it
        destination = m["postgres"](_pg_dsn(spec["url"]).replace("postgres@", "postgres:trust-auth@", 1))
    return m["dlt"].pipeline(pipeline_name=name, destination=destination, dataset_name=spec["schema"],
                             pipelines_dir=str(Path(spec["home"]) / "dlt_pipelines"))


def dlt_arrow(spec: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    pa, pc, pacsv, dlt = m["pa"], m["pc"], m["pacsv"], m["dlt"]

    def table(f: dict[str, Any]) -> Any:
        encoding = "utf8" if f["encoding"] == "utf-8-sig" else f["encoding"]  # Arrow skips a UTF-8 BOM
        t = pacsv.read_csv(f["path"], read_options=pacsv.ReadOptions(encoding=encoding),
                           parse_options=pacsv.ParseOptions(newlines_in_values=True))  # narratives span lines
        key = t[f["primary_key"]]
        keep = pc.is_valid(key)
        if pa.types.is_string(key.type) or pa.types.is_large_string(key.type):
            keep = pc.and_(keep, pc.not_equal(key, ""))
        return t.filter(keep)

    resources = [dlt.resource(table(f), name=f["table"], primary_key=f["primary_key"], write_disposition="merge")
                 for f in _csv_files(spec)]
    info = _dlt_pipeline(spec, m, "peers_arrow").run(resources)
    return {"loads": len(info.loads_ids)}


def dlt_dict(spec: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    dlt = m["dlt"]
    skipped: dict[str, int] = {}

    def rows(f: dict[str, Any]) -> Iterator[list[dict[str, str]]]:
        with open(f["path"], encoding=f["encoding"], newline="") as handle:
            page: list[dict[str, str]] = []
            for row in csv.DictReader(handle):
                if not row.get(f["primary_key"]):
                    continue
                page.append(row)
                if len(page) == PAGE:
                    yield page
                    page = []
            if page:
                yield page

    def documents(f: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        with open(f["path"], encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    doc = json.loads(line)
                except ValueError:
                    skipped[f["table"]] = skipped.get(f["table"], 0) + 1
                    continue
                if isinstance(doc, dict) and doc.get(f["primary_key"]):
                    page.append(doc)
                if len(page) == PAGE:
                    yield page
                    page = []
        if page:
            yield page

    resources = [dlt.resource(rows(f), name=f["table"], primary_key=f["primary_key"], write_disposition="merge")
                 for f in _csv_files(spec)]
    resources += [dlt.resource(documents(f), name=f["table"], primary_key=f["primary_key"],
                               write_disposition="merge", max_table_nesting=0) for f in _ndjson_files(spec)]
    info = _dlt_pipeline(spec, m, "peers_dict").run(resources)
    return {"loads": len(info.loads_ids), "malformed_lines_skipped": skipped}


# --- pandas ----------------------------------------------------------------------------------------------------


def _pandas_imports(spec: dict[str, Any], with_gx: bool = False) -> dict[str, Any]:
    import pandas as pd
    import sqlalchemy as sa

    if spec["engine"] == "duckdb":
        import duckdb_engine  # noqa: F401
    else:
        import psycopg  # noqa: F401
    out: dict[str, Any] = {"pd": pd, "sa": sa}
    if with_gx:
        import great_expectations as gx

        out["gx"] = gx
    return out


def _to_sql(spec: dict[str, Any], m: dict[str, Any], validate: Callable[[dict[str, Any], Any], None] | None) -> None:
    pd, sa = m["pd"], m["sa"]
    engine = sa.create_engine(spec["url"])
    try:
        for f in _csv_files(spec):
            frame = pd.read_csv(f["path"], encoding=f["encoding"])
            if validate is not None:
                validate(f, frame)
            frame.to_sql(f["table"], engine, if_exists="append", index=False, method=None, chunksize=PAGE)
    finally:
        engine.dispose()


def pandas_to_sql(spec: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    _to_sql(spec, m, None)
    return {}


def pandas_gx(spec: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    gx = m["gx"]
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("peers")
    results: dict[str, Any] = {}

    def validate(f: dict[str, Any], frame: Any) -> None:
        suite = gx.ExpectationSuite(name=f"peers_{f['table']}", expectations=[
            gx.expectations.ExpectColumnValuesToNotBeNull(column=f["primary_key"]),
            gx.expectations.ExpectColumnValuesToMatchStrftimeFormat(column=f["date_column"],
                                                                     strftime_format=f["date_format"]),
        ])
        asset = source.add_dataframe_asset(name=f["table"])
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite)
        results[f["table"]] = {"success": bool(result.success),
                               "unexpected": [int(r.result.get("unexpected_count") or 0) for r in result.results]}

    _to_sql(spec, m, validate)
    return {"validation": results}


# --- the raw limit ---------------------------------------------------------------------------------------------


def _raw_imports(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["engine"] == "duckdb":
        import duckdb

        return {"duckdb": duckdb}
    import psycopg

    return {"psycopg": psycopg}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw(spec: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    home = Path(spec["home"])
    if spec["engine"] == "duckdb":
        con = m["duckdb"].connect(_duckdb_path(spec["url"]))
        try:
            for f in _csv_files(spec):
                path = f["path"]
                if f["encoding"] not in {"utf-8", "utf-8-sig"}:
                    path = str(home / f"{f['table']}.utf8.csv")
                    Path(path).write_text(Path(f["path"]).read_text(encoding=f["encoding"]), encoding="utf-8")
                con.execute(f"CREATE TABLE {_quote(f['table'])} AS SELECT * FROM read_csv(?, header = true, "
                            "all_varchar = true, quote = '\"', escape = '\"')", [path])
            for f in _ndjson_files(spec):
                con.execute(f"CREATE TABLE {_quote(f['table'])} AS SELECT * FROM read_json_objects(?, "
                            "format = 'newline_delimited', ignore_errors = true)", [f["path"]])
        finally:
            con.close()
        return {}
    pg_encodings = {"cp1252": "WIN1252", "utf-8-sig": "UTF8", "utf-8": "UTF8"}
    with m["psycopg"].connect(_pg_dsn(spec["url"]), autocommit=True) as conn:
        for f in _csv_files(spec):
            with open(f["path"], encoding=f["encoding"], newline="") as handle:
                header = next(csv.reader(handle))
            table = _quote(f["table"])
            with conn.transaction():  # one committed transaction per file
                conn.execute(f"CREATE TABLE {table} ({', '.join(_quote(c) + ' text' for c in header)})")
                with conn.cursor() as cur, cur.copy(
                        f"COPY {table} FROM STDIN (FORMAT csv, HEADER true, "
                        f"ENCODING '{pg_encodings[f['encoding']]}')") as copy, open(f["path"], "rb") as data:
                    if f["encoding"] == "utf-8-sig" and data.read(3) != b"\xef\xbb\xbf":
                        data.seek(0)
                    while block := data.read(1 << 20):
                        copy.write(block)
        for f in _ndjson_files(spec):
            table = _quote(f["table"])
            with conn.transaction():
                conn.execute(f"CREATE TABLE {table} (document text)")
                # csv with delimiter and quote bytes that JSON text never holds: each line is one value, verbatim
                with conn.cursor() as cur, cur.copy(
                        f"COPY {table} FROM STDIN (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')") as copy, \
                        open(f["path"], "rb") as data:
                    while block := data.read(1 << 20):
                        copy.write(block)
    return {}


# --- the child -------------------------------------------------------------------------------------------------

CONTENDERS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]],
                            Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]]] = {
    "dlt_arrow": (_dlt_imports, dlt_arrow),
    "dlt_dict": (_dlt_imports, dlt_dict),
    "pandas": (_pandas_imports, pandas_to_sql),
    "pandas_gx": (lambda spec: _pandas_imports(spec, with_gx=True), pandas_gx),
    "raw": (_raw_imports, raw),
}


def count_rows(spec: dict[str, Any]) -> dict[str, int]:
    """Rows per table in the contender's schema (dlt's own ``_dlt_*`` tables left out)."""
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = {} ORDER BY table_name"
    if spec["engine"] == "duckdb":
        import duckdb

        with contextlib.closing(duckdb.connect(_duckdb_path(spec["url"]), read_only=True)) as con:
            names = [r[0] for r in con.execute(query.format("?"), [spec["schema"]]).fetchall()]
            return {n: int(con.execute(  # type: ignore[index]
                f"SELECT count(*) FROM {_quote(spec['schema'])}.{_quote(n)}").fetchone()[0])
                for n in names if not n.startswith("_dlt")}
    import psycopg

    with psycopg.connect(_pg_dsn(spec["url"])) as conn:
        names = [r[0] for r in conn.execute(query.format("%s"), [spec["schema"]]).fetchall()]
        return {n: int(conn.execute(  # type: ignore[index]
            f"SELECT count(*) FROM {_quote(spec['schema'])}.{_quote(n)}").fetchone()[0])
            for n in names if not n.startswith("_dlt")}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    imports, work = CONTENDERS[spec["contender"]]
    start = time.perf_counter()
    modules = imports(spec)
    import_seconds = time.perf_counter() - start
    start = time.perf_counter()
    details = work(spec, modules)
    work_seconds = time.perf_counter() - start
    peak = peak_mib()
    tables = count_rows(spec)
    return {"contender": spec["contender"], "engine": spec["engine"], "import_seconds": import_seconds,
            "work_seconds": work_seconds, "peak_mib": peak, "rows": sum(tables.values()), "tables": tables,
            "details": details}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(run(spec)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
