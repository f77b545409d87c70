"""The stack's containers are hard-capped, loopback-only, configured and torn down."""

from __future__ import annotations

import secrets
import time
import urllib.request
from typing import Any

import docker
import psycopg
import pytest
import redis

from containers.cleanup import leftovers
from containers.definitions import GIB, ContainerStartupError, PostgresContainer
from containers.errors import StackError
from containers.images import ensure_images
from containers.stack import Stack

pytestmark = pytest.mark.docker

MIB = 1024**2


def _published_host_ips(container: docker.models.containers.Container) -> set[str]:
    ports = container.attrs["NetworkSettings"]["Ports"] or {}
    return {binding["HostIp"] for bindings in ports.values() for binding in bindings or []}


def test_every_container_is_capped_at_1_gib_without_swap(stack: Stack) -> None:
    containers = stack.docker_containers()
    assert set(containers) == {"postgres", "redis"} | {
        f"service-{index}" for index in range(stack.replicas)
    }
    for name, container in containers.items():
        container.reload()  # the start-time inspect is cached: ask the engine again
        host_config = container.attrs["HostConfig"]
        assert (name, host_config["Memory"], host_config["MemorySwap"]) == (name, GIB, GIB)
    assert stack.caps_bytes() == dict.fromkeys(containers, GIB)


def test_ports_are_published_on_loopback_only(stack: Stack) -> None:
    for name, container in stack.docker_containers().items():
        container.reload()
        assert _published_host_ips(container) == {"127.0.0.1"}, name
    assert all(url.startswith("http://127.0.0.1:") for url in stack.service_urls)


def test_service_is_healthy_and_gets_its_profile(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.service_url}/health", timeout=10) as response:
        assert response.status == 200
    env = stack.docker_containers()["service-0"].attrs["Config"]["Env"]
    assert f"TASTEMATCH_PROFILE={stack.profile}" in env
    assert f"TASTEMATCH_REDIS_URL=redis://:{stack.redis_password}@redis:6379/0" in env


def test_postgres_runs_the_tuned_configuration(stack: Stack) -> None:
    with psycopg.connect(stack.postgres_libpq_url) as connection:
        settings = {
            name: connection.execute(f"SHOW {name}").fetchone()
            for name in ("shared_buffers", "work_mem", "maintenance_work_mem",
                         "effective_cache_size", "max_connections", "temp_buffers",
                         "shared_preload_libraries")
        }  # fmt: skip
    assert settings == {
        "shared_buffers": ("256MB",),
        "work_mem": ("4MB",),
        "maintenance_work_mem": ("64MB",),
        "effective_cache_size": ("768MB",),
        "max_connections": ("20",),
        "temp_buffers": ("8MB",),
        "shared_preload_libraries": ("pg_stat_statements",),
    }


def test_redis_is_an_lru_cache_without_persistence(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert client.config_get("maxmemory") == {"maxmemory": str(256 * MIB)}
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


def _postgres_settings(url: str) -> dict[str, str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT name, current_setting(name) FROM pg_settings"
            " WHERE name IN ('max_connections', 'shared_buffers')"
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize(
    "switch", [{"regressions": ["R6"]}, {"profile": "baseline"}], ids=["R6", "baseline"]
)
def test_restart_services_switches_postgres_to_untuned_and_keeps_its_data(
    switch: dict[str, Any],
) -> None:
    replicas = 1 if "profile" in switch else 0
    with Stack(replicas=replicas, mem_limits={"redis": 256 * MIB}) as own:
        redis_host_config = own.docker_containers()["redis"].attrs["HostConfig"]
        assert (redis_host_config["Memory"], redis_host_config["MemorySwap"]) == (256 * MIB,) * 2
        assert _postgres_settings(own.postgres_libpq_url) == {
            "max_connections": "20",
            "shared_buffers": "256MB",
        }
        with psycopg.connect(own.postgres_libpq_url) as connection:
            connection.execute("CREATE TABLE kept (n int)")
            connection.execute("INSERT INTO kept VALUES (42)")

        own.restart_services(**switch)

        assert not own.postgres_tuned
        assert _postgres_settings(own.postgres_libpq_url) == {
            "max_connections": "100",
            "shared_buffers": "128MB",
        }
        with psycopg.connect(own.postgres_libpq_url) as connection:
            assert connection.execute("SELECT n FROM kept").fetchall() == [(42,)]
        if replicas:
            env = own.docker_containers()["service-0"].attrs["Config"]["Env"]
            assert "TASTEMATCH_PROFILE=baseline" in env
            with urllib.request.urlopen(f"{own.service_url}/health", timeout=10) as response:
                assert response.status == 200


def test_a_failed_start_up_reports_the_logs_and_leaves_nothing_behind() -> None:
    failing = Stack(replicas=1, service_env={"TASTEMATCH_PROFILE": "no-such-profile"})
    with pytest.raises(StackError, match="exited") as raised:
        failing.start()
    assert "invalid TASTEMATCH_* setting" in str(raised.value)
    assert leftovers(failing.stack_id) == []


def test_a_container_that_exits_fails_fast_with_its_logs() -> None:
    postgres = PostgresContainer(
        ensure_images(("postgres",)).postgres,
        name=f"tastematch-test-{secrets.token_hex(4)}-postgres",
        env={"TASTEMATCH_PG_TUNING": "sideways"},
    )
    started = time.monotonic()
    try:
        with pytest.raises(ContainerStartupError, match="must be 'tuned' or 'untuned'"):
            postgres.start()
    finally:
        postgres.stop()
    assert time.monotonic() - started < 30  # did not wait for the readiness timeout


def test_redis_answers_only_with_the_stacks_password(stack: Stack) -> None:
    port = stack.docker_containers()["redis"].attrs["NetworkSettings"]["Ports"]["6379/tcp"][0]
    anonymous = redis.Redis(host="127.0.0.1", port=int(port["HostPort"]), socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("any-key")
    finally:
        anonymous.close()
    with redis.Redis.from_url(stack.redis_url, socket_timeout=5) as client:
        assert client.ping() is True
    assert stack.redis_password
    assert f":{stack.redis_password}@" in stack.redis_url
