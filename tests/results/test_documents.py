"""Every kind of result document loads from its golden file; a bad one names file and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import results

GOLDEN = Path(__file__).with_name("golden")


@pytest.mark.parametrize(
    ("name", "kind", "model"),
    [
        ("gate.json", "gate", results.RunDocument),
        ("gate-v1.json", "gate", results.RunDocument),
        ("oom-v1.json", "oom", results.RunDocument),
        ("selftest.json", "selftest", results.SelftestDocument),
        ("capacity-v1.json", "capacity", results.CapacityDocument),
    ],
)
def test_golden_documents_load_as_their_kind(name: str, kind: str, model: type[Any]) -> None:
    document = results.load(GOLDEN / name)

    assert isinstance(document, model)
    assert document.kind == kind
    assert results.unknown_keys(document) == []


def test_a_version_1_gate_document_reads_the_key_the_gate_wrote() -> None:
    document = results.load_run(GOLDEN / "gate-v1.json")

    assert document.schema_version == 1
    assert document.microbenchmarks_error == "pytest-benchmark exited 2"
    assert [(v.metric, v.paths) for v in document.verdicts] == [(None, ())] * 2
    assert document.phases[0].containers["service-0"].name == "service-0"


def test_the_oom_run_keeps_its_kill() -> None:
    document = results.load_run(GOLDEN / "oom-v1.json")

    assert document.oom is not None
    assert document.oom["kill"] == json.loads((GOLDEN / "oom-v1.json").read_text())["oom"]["kill"]
    assert document.phases[0].containers["service-0"].exit_code == 137


def test_load_run_refuses_another_kind() -> None:
    with pytest.raises(results.ResultError, match="a selftest document, not a gate run's"):
        results.load_run(GOLDEN / "selftest.json")


def _gate() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / "gate.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(kind="bench"), "field 'kind' is \"bench\": not one of gate, oom"),
        (lambda d: d.update(schema_version=True), "field 'schema_version' is true"),
        (lambda d: d.pop("environment"), "field 'environment' is missing"),
        (
            lambda d: d["phases"][0]["containers"]["redis"].update(oom_killed="no"),
            "field 'phases[0].containers.redis.oom_killed' must be true or false, got \"no\"",
        ),
        (
            lambda d: d["phases"][0]["stages"][1].update(users=2.5),
            "field 'phases[0].stages[1].users' must be a whole number, got 2.5",
        ),
        (
            lambda d: d["verdicts"][2].update(paths="containers.redis"),
            "field 'verdicts[2].paths' must be a list",
        ),
        (
            lambda d: d["microbenchmarks_status"].update(error=3),
            "field 'microbenchmarks_status.error' must be a string, got 3",
        ),
    ],
)
def test_bad_documents_name_the_file_and_the_field(change: Any, message: str) -> None:
    document = _gate()
    change(document)

    with pytest.raises(results.ResultError) as caught:
        results.validate(document, "gate.json")
    assert str(caught.value).startswith("gate.json: ")
    assert message in str(caught.value)


def test_a_missing_file_says_where_documents_come_from(tmp_path: Path) -> None:
    with pytest.raises(results.ResultError, match=r"cannot read .*`make bench` writes one"):
        results.load(tmp_path / "nowhere")


def test_write_is_atomic_sorted_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("old")
    results.write(path, {"b": 1, "a": [1.5]})

    assert path.read_text() == '{\n "a": [\n  1.5\n ],\n "b": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    with pytest.raises(ValueError, match="Out of range float values"):
        results.write(path, {"a": float("nan")})
    assert path.read_text().startswith('{\n "a"')  # the old document is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_model_is_written_as_the_json_it_was_read_from(tmp_path: Path) -> None:
    document = results.load(GOLDEN / "gate.json")
    results.write(tmp_path / "again.json", document)

    assert results.load(tmp_path / "again.json") == document


def test_the_report_and_the_schema_do_not_import_the_gate() -> None:
    code = (
        "import sys, reports, results; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'benchmarks', 'containers'}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"


def test_absent_or_null_sections_read_as_empty() -> None:
    document = _gate()
    document["verdicts"][0].update(unstable=None, description=None)
    phase = document["phases"][0]
    phase.update(endpoints=None, http_contract=None)
    phase["containers"]["redis"]["oom_killed"] = None
    del phase["timeline"]

    checked = results.validate(document, "gate.json")
    assert isinstance(checked, results.RunDocument)
    assert (checked.verdicts[0].unstable, checked.verdicts[0].description) == (False, "")
    assert checked.phases[0].endpoints == {}
    assert checked.phases[0].http_contract == []
    assert checked.phases[0].containers["redis"].oom_killed is False
    assert checked.phases[0].timeline.requests == []
