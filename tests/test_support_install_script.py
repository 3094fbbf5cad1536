"""``.ci/install-system-deps``: idempotent, root-only install, clear message otherwise.

Run against stand-in ``id``/``apt-get`` commands on a private PATH, so the test neither
needs nor touches the real package manager."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "install-system-deps"
BASH = shutil.which("bash") or "/bin/bash"


def _exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("head", "chmod", "rm"):
        real = shutil.which(tool)
        assert real, tool
        (bin_dir / tool).symlink_to(real)
    log = tmp_path / "apt.log"
    policy = tmp_path / "policy-rc.d"
    # apt-get stand-in: logs its arguments (and whether the no-start policy was in place);
    # "install" puts a prometheus on PATH.
    _exe(
        bin_dir / "apt-get",
        f"""#!{BASH}
echo "$* policy=$([ -e {policy} ] && echo yes || echo no)" >> {log}
if [ "$1" = install ]; then
  printf '#!{BASH}\\necho "prometheus, version 2.42.0+ds"\\n' > {bin_dir}/prometheus
  chmod +x {bin_dir}/prometheus
fi
""",
    )
    return {"bin": bin_dir, "log": log, "policy": policy}


def _run(fake: dict[str, Path], uid: int) -> subprocess.CompletedProcess[str]:
    _exe(fake["bin"] / "id", f"#!{BASH}\necho {uid}\n")
    env = {
        "PATH": str(fake["bin"]),
        "HOME": os.environ.get("HOME", "/root"),
        "INSTALL_SYSTEM_DEPS_PROMETHEUS_PATH": str(fake["bin"].parent / "no-such-prometheus"),
        "INSTALL_SYSTEM_DEPS_POLICY_RC_D": str(fake["policy"]),
    }
    return subprocess.run(
        [BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _apt_calls(fake: dict[str, Path]) -> list[str]:
    return fake["log"].read_text().splitlines() if fake["log"].exists() else []


def test_not_root_and_missing_explains_and_exits_zero(fake: dict[str, Path]) -> None:
    result = _run(fake, uid=1000)
    assert result.returncode == 0, result.stderr
    assert "NOT installed" in result.stdout
    assert "apt-get install -y --no-install-recommends prometheus" in result.stdout
    assert _apt_calls(fake) == []


def test_root_installs_once_without_starting_the_service(fake: dict[str, Path]) -> None:
    first = _run(fake, uid=0)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _apt_calls(fake) == [
        "update policy=yes",
        "install -y --no-install-recommends prometheus policy=yes",
    ]
    assert not fake["policy"].exists()  # our temporary no-start policy is removed again
    assert "installed:" in first.stdout

    second = _run(fake, uid=0)  # idempotent: nothing to do now
    assert second.returncode == 0
    assert "already installed" in second.stdout
    assert len(_apt_calls(fake)) == 2


def test_an_existing_policy_rc_d_is_left_alone(fake: dict[str, Path]) -> None:
    fake["policy"].write_text("#!/bin/sh\nexit 101\n")
    assert _run(fake, uid=0).returncode == 0
    assert fake["policy"].read_text() == "#!/bin/sh\nexit 101\n"
