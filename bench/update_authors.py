"""Cost of storing each update's author: one keystroke's INSERT with the four author columns against the same
INSERT without them (the row as it was before), on the same PostgreSQL in the same run.

    DATABASE_URL=postgres://… python bench/update_authors.py --rows 3000 --rounds 5

Two temporary tables of DocUpdate's two shapes (no foreign key, as temporary tables cannot reference the
project's tables; the index on (file_id, id) kept), each written like the update writer writes a lone keystroke:
a prepared single-row INSERT in autocommit mode with `synchronous_commit = off`, the data as binary. Rounds
alternate the order; prints the median microseconds per INSERT of each shape and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg

SHAPES = {
    "reference (file_id, data, created_at)": ("", "", ""),
    "with author (…, author_id, origin_kind, origin_model, origin_ref)": (
        ", author_id integer, origin_kind varchar(8) NOT NULL, origin_model varchar(200) NOT NULL,"
        " origin_ref varchar(64) NOT NULL",
        ", author_id, origin_kind, origin_model, origin_ref",
        ", $3, $4, $5, $6",
    ),
}


def prepare(conn: psycopg.Connection, number: int, shape: tuple[str, str, str]) -> str:
    columns, names, params = shape
    table = f"bench_updates_{number}"
    conn.execute(
        f"CREATE TEMP TABLE {table} (id bigserial PRIMARY KEY, file_id bigint NOT NULL, data bytea NOT NULL,"
        f" created_at timestamptz NOT NULL{columns})"
    )
    conn.execute(f"CREATE INDEX ON {table} (file_id, id)")
    types = "bigint, bytea" + (", integer, text, text, text" if names else "")
    conn.execute(
        f"PREPARE insert_{number} ({types}) AS INSERT INTO {table} (file_id, data, created_at{names})"
        f" VALUES ($1, $2, now(){params})"
    )
    return f"insert_{number}"


def measure(conn: psycopg.Connection, statement: str, with_author: bool, rows: int) -> float:
    update = os.urandom(24)  # a keystroke's update is about this size
    params = [b"7", update] + ([b"42", b"human", b"", b""] if with_author else [])
    formats = [0, 1] + ([0, 0, 0, 0] if with_author else [])
    pgconn = conn.pgconn
    start = time.perf_counter()
    for _ in range(rows):
        result = pgconn.exec_prepared(statement.encode(), params, param_formats=formats)
        if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
            raise RuntimeError(result.error_message)
    return (time.perf_counter() - start) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        statements = [(name, prepare(conn, n, shape), bool(shape[1])) for n, (name, shape) in enumerate(SHAPES.items())]
        timings: dict[str, list[float]] = {name: [] for name in SHAPES}
        for number in range(args.rounds):
            order = statements if number % 2 == 0 else list(reversed(statements))
            for name, statement, with_author in order:
                timings[name].append(measure(conn, statement, with_author, args.rows))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in medians.items():
        print(f"{name:70s} {value:8.1f} µs per INSERT (median of {args.rounds} rounds of {args.rows})")
    reference, authored = medians.values()
    print(f"{'ratio with author / reference':70s} {authored / reference:8.3f}")


if __name__ == "__main__":
    main()
