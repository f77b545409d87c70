"""Images are named by their inputs, rebuilt only when those change, and fit the wheelhouse."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from containers.images import BASE_IMAGE, ROLES, ensure_images, input_hash
from containers.images.wheelhouse import IMAGE_PYTHON_VERSION


def test_input_hash_is_stable_and_covers_the_base_image() -> None:
    for role in ROLES:
        assert input_hash(role, "sha256:base-a") == input_hash(role, "sha256:base-a")
        assert input_hash(role, "sha256:base-a") != input_hash(role, "sha256:base-b")
    assert len({input_hash(role, "sha256:base-a") for role in ROLES}) == len(ROLES)


def test_unknown_image_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown image"):
        input_hash("mysql", "sha256:base")
    with pytest.raises(ValueError, match="unknown image"):
        ensure_images(("mysql",))


def _project(root: Path) -> Path:
    for relative, text in {
        "containers/images/postgres/Dockerfile": "FROM debian:bookworm-slim\n",
        "containers/images/redis/Dockerfile": "FROM debian:bookworm-slim\n",
        "containers/images/service/Dockerfile": "FROM debian:bookworm-slim\n",
        "containers/images/pgbouncer/Dockerfile": "FROM debian:bookworm-slim\n",
        "service/main.py": "app = None\n",
        "pyproject.toml": "[project]\n",
        "benchmarks/run.py": "pass\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def _hashes(root: Path) -> dict[str, str]:
    return {role: input_hash(role, "sha256:base", root) for role in ROLES}


@pytest.mark.parametrize(
    ("changed_file", "rebuilt"),
    [
        ("service/main.py", {"service"}),
        ("service/new_module.py", {"service"}),
        ("pyproject.toml", {"service"}),
        ("containers/images/postgres/postgresql.conf", {"postgres"}),
        ("containers/images/redis/Dockerfile", {"redis"}),
        ("containers/images/pgbouncer/pgbouncer.ini", {"pgbouncer"}),
        ("benchmarks/run.py", set()),
        ("README.md", set()),
    ],
)
def test_a_change_rebuilds_only_the_images_it_is_an_input_of(
    tmp_path: Path, changed_file: str, rebuilt: set[str]
) -> None:
    root = _project(tmp_path)
    before = _hashes(root)
    (root / changed_file).parent.mkdir(parents=True, exist_ok=True)
    with (root / changed_file).open("a") as file:
        file.write("# changed\n")
    after = _hashes(root)
    assert {role for role in ROLES if before[role] != after[role]} == rebuilt


@pytest.mark.docker
def test_second_ensure_images_builds_nothing() -> None:
    first = ensure_images()
    messages: list[str] = []
    second = ensure_images(progress=messages.append)
    assert second == first
    assert not [message for message in messages if "building" in message], messages
    assert sorted(m for m in messages if m.endswith("is up to date")) == sorted(
        f"{role}: {tag} is up to date" for role, tag in first.as_dict().items()
    )


@pytest.mark.docker
def test_images_are_tagged_by_their_input_hash_and_built_on_our_base() -> None:
    images = ensure_images()
    client = docker.from_env()
    try:
        base_id = client.images.get(BASE_IMAGE).id
        # (The service's sources may be edited while this runs: its tag is only checked
        # against its label.)
        for role in ("postgres", "redis"):
            expected = f"tastematch-bench/{role}:{input_hash(role, base_id)}"
            assert images.as_dict()[role] == expected
        for role, tag in images.as_dict().items():
            assert tag.startswith(f"tastematch-bench/{role}:")
            labels = client.images.get(tag).labels
            assert labels["org.tastematch.role"] == role
            assert labels["org.tastematch.input-hash"] == tag.rsplit(":", 1)[1]
        # The wheelhouse was resolved for exactly this interpreter.
        output = client.containers.run(
            images.service,
            ["python", "-c", "import platform, service; print(platform.python_version())"],
            remove=True,
        )
        assert output.decode().strip() == IMAGE_PYTHON_VERSION
    finally:
        client.close()
