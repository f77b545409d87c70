"""``Stack.snapshot_database``/``restore_database``: each base-vs-head round starts from the
same rows, whatever the round before wrote."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from containers.errors import StackError
from containers.stack import Stack
from service.seed import seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def database_stack() -> Iterator[Stack]:
    with Stack(replicas=0) as stack:
        seed(stack.postgres_url, restaurants=50, users=5, orders=40, seed=3)
        yield stack


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as connection:
        orders = connection.execute("SELECT count(*) FROM orders").fetchone()
        users = connection.execute("SELECT count(*) FROM users").fetchone()
    assert orders is not None
    assert users is not None
    return int(orders[0]), int(users[0])


def test_restore_brings_back_the_snapshot_rows(database_stack: Stack) -> None:
    url = database_stack.postgres_libpq_url
    before = _counts(url)
    database_stack.snapshot_database()
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM orders WHERE id IN (SELECT id FROM orders LIMIT 7)")
    # A connection left open (like a pooled one) does not stop the restore.
    idle = psycopg.connect(url)
    try:
        assert _counts(url) == (before[0] - 7, before[1])
        database_stack.restore_database()
    finally:
        idle.close()
    assert _counts(url) == before
    # The service's role still owns what it needs: it can write again.
    with psycopg.connect(url) as connection:
        connection.execute("DELETE FROM orders WHERE id IN (SELECT id FROM orders LIMIT 1)")
    database_stack.restore_database()
    assert _counts(url) == before


def test_restore_without_a_snapshot_names_the_problem() -> None:
    with Stack(replicas=0) as stack, pytest.raises(StackError, match="tastematch_snapshot"):
        stack.restore_database()
