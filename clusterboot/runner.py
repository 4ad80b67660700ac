"""Run a playbook through ansible-runner with the project's ansible.cfg, one artifacts folder per run."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

from clusterboot.errors import UserError
from clusterboot.mitogen import prepare_ssh_control_dir, strategy_env
from clusterboot.progress import Progress, RunState

PROJECT_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = PROJECT_DIR / ".artifacts"
KEEP_RUNS = 20


@dataclass
class RunRequest:
    inventory: Path
    playbook: Path
    label: str = "site"
    tags: list[str] = field(default_factory=list)
    skip_tags: list[str] = field(default_factory=list)
    limit: str | None = None
    check: bool = False
    diff: bool = False
    forks: int | None = None
    verbosity: int = 0
    quiet: bool = False
    extra_vars: dict = field(default_factory=dict)
    mitogen: str = "auto"


@dataclass
class RunOutcome:
    rc: int
    status: str
    state: RunState
    artifacts: Path
    command: list[str]


def runner_env(mitogen_mode: str = "auto") -> dict[str, str]:
    """ansible-runner's defaults turn host key checking off and move the fact cache per run: undo both."""
    prepare_ssh_control_dir()
    return {
        **strategy_env(mitogen_mode),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def fact_cache_dir(inventory: Path) -> Path:
    """Facts are cached by host name: one folder per inventory, so two inventories that both name a host
    `cp01` (a lab and a staging cluster) never read each other's facts (distribution, addresses)."""
    resolved = inventory.resolve()
    return ARTIFACTS_DIR / "facts" / f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


def new_artifacts_dir(label: str) -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    runs = sorted(p for p in ARTIFACTS_DIR.iterdir() if p.is_dir() and p.name[:1].isdigit())  # not facts/
    for old in runs[: max(0, len(runs) - KEEP_RUNS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    path = ARTIFACTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = ARTIFACTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{suffix}"
    path.mkdir()
    return path


def run(request: RunRequest, host_counts: dict[str, int]) -> RunOutcome:
    env = runner_env(request.mitogen)  # a bad --mitogen is reported before anything is created
    artifacts = new_artifacts_dir(request.label)
    state = RunState()
    progress = Progress(state, host_counts, quiet=request.quiet)
    cancelled = threading.Event()
    cmdline = " ".join(flag for flag, on in (("--check", request.check), ("--diff", request.diff)) if on)
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(artifacts),
        project_dir=str(PROJECT_DIR),
        playbook=str(request.playbook),
        inventory=str(request.inventory),
        tags=",".join(request.tags) or None,
        skip_tags=",".join(request.skip_tags) or None,
        limit=request.limit,
        forks=request.forks,
        verbosity=request.verbosity or None,
        cmdline=cmdline or None,
        extravars=request.extra_vars or None,
        envvars=env,
        fact_cache=str(fact_cache_dir(request.inventory)),  # absolute, shared by this inventory's runs
        event_handler=progress,
        cancel_callback=cancelled.is_set,
        quiet=True,
        ident="run",
    )
    if request.verbosity:
        print(f"running: {' '.join(runner.config.command)}", flush=True)
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        cancelled.set()
        thread.join(30)
        progress.close()
        raise
    progress.close()
    if runner.rc is None:
        raise UserError(f"ansible-playbook did not start; see {artifacts}")
    return RunOutcome(runner.rc, runner.status, state, artifacts, list(runner.config.command))
