"""The run folders in .artifacts that one test's own `bootstrap.py` started.

In `./dev test` the lab tests run beside the unit tests and start runs of their own at any moment, so "no new
run folder" cannot prove that a refused command started no playbook. Instead the test's subprocess carries a
marker in its environment; ansible-runner records every playbook's environment in its `command` file, so a
playbook the subprocess started is a command file that holds the marker.
"""

import os
import uuid
from pathlib import Path

from clusterboot.paths import ARTIFACTS_DIR as ARTIFACTS

MARK = "CLUSTERBOOT_TEST_MARK"
# Where ansible-runner writes `command`: one run, a step of a stepped run, or a shard of a step.
COMMAND_FILES = ("*/artifacts/*/command", "*/*/artifacts/*/command", "*/*/*/artifacts/*/command")


def marked_env(env: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """`env` (default: this process's) with a new marker, and the marker."""
    mark = uuid.uuid4().hex
    return {**(os.environ if env is None else env), MARK: mark}, mark


def started_by(mark: str) -> list[Path]:
    """The run folders whose playbooks ran with `mark` in their environment."""
    if not ARTIFACTS.is_dir():
        return []
    return sorted({ARTIFACTS / command.relative_to(ARTIFACTS).parts[0]
                   for pattern in COMMAND_FILES for command in ARTIFACTS.glob(pattern) if mark in command.read_text()})
