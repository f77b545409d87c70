"""The load's start time as ``start.json`` records it, read by the load runner and the
fault injector."""

from __future__ import annotations

from pathlib import Path

import pytest

from results import write
from scenarios.protocol import START_FILE, read_started_at


def test_the_start_time_is_read_from_start_json(tmp_path: Path) -> None:
    (tmp_path / START_FILE).write_text('{"started_at": 1800000000.25}')
    assert read_started_at(tmp_path) == 1_800_000_000.25
    (tmp_path / START_FILE).write_text('{"started_at": 1800000000}')
    assert read_started_at(tmp_path) == 1_800_000_000.0


def test_no_start_file_yet_is_none(tmp_path: Path) -> None:
    assert read_started_at(tmp_path) is None


@pytest.mark.parametrize(
    "text",
    [
        "",  # created, not written yet
        '{"started_at": 18000',  # half-written
        "{}",
        '{"started_at": null}',
        '{"started_at": "1800000000"}',
        '{"started_at": true}',
        '{"started_at": NaN}',
        "[1800000000]",
    ],
)
def test_a_malformed_start_file_is_a_value_error_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / START_FILE).write_text(text)
    with pytest.raises(ValueError, match=START_FILE):
        read_started_at(tmp_path)


def test_the_start_marker_is_renamed_into_place_whole(tmp_path: Path) -> None:
    marker = tmp_path / START_FILE
    write(marker, {"started_at": 1_800_000_000.5})
    write(marker, {"started_at": 1_800_000_001.5})
    assert read_started_at(tmp_path) == 1_800_000_001.5
    assert sorted(path.name for path in tmp_path.iterdir()) == [START_FILE]
