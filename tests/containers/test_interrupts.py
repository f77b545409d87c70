"""Commands end the way Ctrl-C ends them when SIGTERM arrives: cleanup runs, one line,
exit 128 + signal number; a repeated SIGTERM does not cut the cleanup short."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

COMMAND = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from containers.interrupts import ends_cleanly_on_signals

    @ends_cleanly_on_signals
    def main() -> int:
        try:
            print("ready", flush=True)
            time.sleep(60)
            return 0
        finally:
            time.sleep(0.5)  # a cleanup that takes a while, like removing containers
            Path(sys.argv[1]).write_text("cleaned up")

    raise SystemExit(main())
    """
)


def _run_and_signal(marker: Path, *signals: signal.Signals) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", COMMAND, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        for number in signals:
            process.send_signal(number)
            time.sleep(0.1)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_runs_the_cleanup_and_names_itself(
    tmp_path: Path, sent: signal.Signals, code: int
) -> None:
    marker = tmp_path / "cleanup"
    result = _run_and_signal(marker, sent)
    assert result.returncode == code, result.stderr
    assert marker.read_text() == "cleaned up"
    assert f"interrupted by {sent.name}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_sigterm_does_not_cut_the_cleanup_short(tmp_path: Path) -> None:
    marker = tmp_path / "cleanup"
    result = _run_and_signal(marker, signal.SIGTERM, signal.SIGTERM, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    assert marker.read_text() == "cleaned up"
