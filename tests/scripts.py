"""Running the project's provisioning scripts (``containers/engine.sh``,
``reports/browser.sh``) from tests, as root or as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: The ``nobody`` user and group of Debian.
NOBODY = 65534


def run_script(
    script: Path, env: Mapping[str, str], *, as_nobody: bool = False, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``bash script`` with ``env``; with ``as_nobody``, run by an unprivileged user when
    the tests run as root (Python's own setuid/setgid: a minimal Debian has no setpriv)."""
    drop = as_nobody and os.geteuid() == 0
    return subprocess.run(
        ["/bin/bash", str(script)],
        user=NOBODY if drop else None,
        group=NOBODY if drop else None,
        extra_groups=[] if drop else None,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=dict(env),
        check=False,
    )
