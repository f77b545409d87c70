"""`reports/browser.sh` (`make browser`) finds a Chromium, or installs one as root on
Debian/Ubuntu, or names the command that would: it never leaves the browser tests to
fail later with a missing executable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.scripts import run_script

BROWSER_SH = Path(__file__).resolve().parents[2] / "reports" / "browser.sh"


def _browser_sh(
    env: dict[str, str], *, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    return run_script(BROWSER_SH, env, as_nobody=as_nobody, timeout_s=60)


def test_browser_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(BROWSER_SH)], check=False).returncode == 0


def test_a_named_chromium_is_used_as_it_is(tmp_path: Path) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\necho 'Chromium 999.0.1'\n")
    fake.chmod(0o755)
    result = _browser_sh({"PATH": os.environ["PATH"], "CHROMIUM": str(fake)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"headless Chromium: {fake} (Chromium 999.0.1); nothing to do" in result.stdout


def test_a_named_chromium_that_is_not_executable_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-chromium"
    result = _browser_sh({"PATH": os.environ["PATH"], "CHROMIUM": str(missing)})
    assert result.returncode == 1
    assert f"CHROMIUM={missing} is not an executable file" in result.stderr


def test_without_chromium_and_without_root_it_names_the_command(tmp_path: Path) -> None:
    # An empty PATH: no installed Chromium is found, whatever this machine has.
    result = _browser_sh({"PATH": str(tmp_path / "empty")}, as_nobody=True)
    assert result.returncode == 1
    assert "No Chromium found" in result.stderr
    assert "apt-get install chromium" in result.stderr
    assert "make browser" in result.stderr
    assert "export CHROMIUM=" in result.stderr
