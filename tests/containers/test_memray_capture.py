"""A service run under memray leaves a capture that can be copied out after it stops."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from memray import FileReader

from containers.errors import StackError
from containers.replicas import MEMRAY_CAPTURE
from containers.stack import Stack

pytestmark = pytest.mark.docker


def test_memray_capture_is_copied_out_of_a_stopped_service(tmp_path: Path) -> None:
    with Stack(replicas=1, memray=True) as stack:
        with urllib.request.urlopen(f"{stack.service_url}/health", timeout=10) as response:
            assert response.status == 200
        service = stack.docker_containers()["service-0"]
        assert service.attrs["Config"]["Cmd"][:3] == ["python", "-m", "memray"]
        service.stop(timeout=20)

        copied = stack.copy_from("service-0", MEMRAY_CAPTURE, tmp_path)

        assert copied == tmp_path / "service.bin"
        metadata = FileReader(copied).metadata
        assert metadata.peak_memory > 0
        assert metadata.command_line.endswith("-m service")
        with pytest.raises(StackError, match="does not exist"):
            stack.copy_from("service-0", "/memray/missing.bin", tmp_path)
        with pytest.raises(StackError, match="no container 'service-7'"):
            stack.copy_from("service-7", MEMRAY_CAPTURE, tmp_path)
