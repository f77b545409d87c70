"""The seeded service the HTTP contract tests share: a small data set, two logged-in users.

Each module of this folder gets its own (module-scoped) service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.seed import LOAD_TEST_PASSWORD, seed, user_email

Login = Callable[[TestClient, str, str], dict[str, str]]


@pytest.fixture(scope="module")
def client(database_url: str, app_factory: Any) -> Iterator[TestClient]:
    seed(database_url, restaurants=60, users=6, orders=60, seed=7)
    with app_factory() as started:
        yield started


@pytest.fixture(scope="module")
def user0(client: TestClient, login: Login) -> dict[str, str]:
    return login(client, user_email(0), LOAD_TEST_PASSWORD)


@pytest.fixture(scope="module")
def user1(client: TestClient, login: Login) -> dict[str, str]:
    return login(client, user_email(1), LOAD_TEST_PASSWORD)
