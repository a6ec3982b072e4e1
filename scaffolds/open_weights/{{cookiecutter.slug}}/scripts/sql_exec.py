"""Execution accuracy of SQL answers: the predicted and the reference query run read-only against the user's
database, and the answer is right when both return the same rows (Yu et al. 2018, Spider; Zhong et al. 2020).

configs/eval.yaml:

    sql:
      database: data/app.sqlite   # a .sqlite/.db file (SQLite) or a .duckdb file (DuckDB); a held-out row's
                                  # own `database` key wins, for benchmarks with one database per question
      dialect: sqlite             # the dialect the queries are written in; sqlglot transpiles it to the
                                  # database's when they differ (postgres, mysql, bigquery, snowflake, ...)
      timeout_s: 10               # a query running longer counts as wrong

Rows are compared as a multiset (order-insensitive) unless the reference query ends with ORDER BY, then as a
list. SQLite is opened `mode=ro` with `PRAGMA query_only`, DuckDB with `read_only=True`: a query can never
change the database.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import UserError

DEFAULT_TIMEOUT_S = 10.0
FENCE = re.compile(r"```(?:sql)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
ORDER_BY = re.compile(r"\border\s+by\b[^()]*$", re.IGNORECASE | re.DOTALL)  # at the top level, at the end


def extract_sql(text: str) -> str:
    """The query of an answer: the first ```sql fence if there is one, without a trailing semicolon."""
    m = FENCE.search(text)
    return (m.group(1) if m else text).strip().rstrip(";").strip()


def engine_of(path: str) -> str:
    return "duckdb" if Path(path).suffix.lower() in (".duckdb", ".ddb") else "sqlite"


class Database:
    """One read-only connection; run(query) -> rows, or raises on error and timeout."""

    def __init__(self, path: str, timeout_s: float) -> None:
        if not Path(path).is_file():
            raise UserError(f"sql.database: {path} does not exist — point it to your SQLite or DuckDB file")
        self.engine, self.timeout_s = engine_of(path), timeout_s
        if self.engine == "duckdb":
            try:
                import duckdb
            except ImportError:
                raise UserError("sql.database: a .duckdb file needs the duckdb package — pip install duckdb") from None
            self.conn: Any = duckdb.connect(path, read_only=True)
        else:
            self.conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                        check_same_thread=False)
            self.conn.execute("PRAGMA query_only = ON")

    def run(self, query: str) -> list[tuple]:
        deadline = time.monotonic() + self.timeout_s
        if self.engine == "sqlite":
            self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                return self.conn.execute(query).fetchall()
            finally:
                self.conn.set_progress_handler(None, 0)
        timer = threading.Timer(self.timeout_s, self.conn.interrupt)
        timer.start()
        try:
            return self.conn.execute(query).fetchall()
        finally:
            timer.cancel()


def transpile(query: str, read: str, write: str) -> str:
    if read == write:
        return query
    try:
        import sqlglot
    except ImportError:
        raise UserError(f"sql.dialect: {read} queries on a {write} database need sqlglot — pip install sqlglot, "
                        f"or set sql.dialect: {write}") from None
    try:
        return sqlglot.transpile(query, read=read, write=write)[0]
    except Exception:  # noqa: BLE001 - a query sqlglot cannot parse is run as written (and may fail there)
        return query


def _normalise(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def same_result(pred: list[tuple], gold: list[tuple], ordered: bool) -> bool:
    p, g = _normalise(pred), _normalise(gold)
    return p == g if ordered else Counter(p) == Counter(g)


class Scorer:
    """Scores answers against references, caching each database and each reference's rows."""

    def __init__(self, cfg: dict) -> None:
        self.sql = cfg.get("sql") or {}
        self.timeout = float(self.sql.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.dbs: dict[str, Database] = {}
        self.gold: dict[tuple[str, str], list[tuple]] = {}

    def db(self, row: dict) -> Database:
        path = str(row.get("database") or self.sql.get("database") or "")
        if not path:
            raise UserError("sql.database: execution_accuracy needs the database the queries run on — set "
                            "sql.database in configs/eval.yaml (or a `database` key per held-out row)")
        if path not in self.dbs:
            self.dbs[path] = Database(path, self.timeout)
        return self.dbs[path]

    def score(self, hyp: str, ref: str, row: dict, index: int) -> float:
        db = self.db(row)
        dialect = str(self.sql.get("dialect") or db.engine)
        gold_sql = transpile(extract_sql(ref), dialect, db.engine)
        key = (str(row.get("database") or self.sql.get("database")), gold_sql)
        if key not in self.gold:
            try:
                self.gold[key] = db.run(gold_sql)
            except Exception as exc:  # noqa: BLE001 - any driver error of the reference is a data problem
                raise UserError(f"heldout: example {index + 1}: the reference query fails on {key[0]} ({exc}) "
                                "— fix the reference or the database") from None
        try:
            rows = db.run(transpile(extract_sql(hyp), dialect, db.engine))
        except Exception:  # noqa: BLE001 - a predicted query that errors or times out is wrong
            return 0.0
        return float(same_result(rows, self.gold[key], bool(ORDER_BY.search(gold_sql))))
