"""Run a playbook through ansible-runner with the project's ansible.cfg, one artifacts folder per run."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
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
# After the first Ctrl-C or SIGTERM, how long ansible-playbook gets to stop its workers and exit before it
# is killed.
STOP_GRACE_SECONDS = 30.0


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
    # Answered to ansible-playbook's --ask-become-pass prompt through its pseudo-terminal: held in memory
    # only, never written to the artifacts folder or a command line.
    become_password: str | None = field(default=None, repr=False)


# ansible-playbook's prompt for --ask-become-pass.
BECOME_PROMPT = r"BECOME password.*:\s*?$"


@dataclass
class RunOutcome:
    rc: int
    status: str
    state: RunState
    artifacts: Path
    command: list[str]
    interrupted: int | None = None  # the signal (SIGINT, SIGTERM) that stopped the run


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


class Stop:
    """SIGINT (Ctrl-C) and SIGTERM during a run. The first asks ansible-playbook to stop: it gets SIGINT,
    as on its own terminal, so it abandons the task under way, stops its workers and exits; the events so
    far still reach the summary. The second, or the grace period running out, kills it at once."""

    def __init__(self, cancelled: threading.Event) -> None:
        self.cancelled = cancelled
        self.signum: int | None = None
        self.deadline: float | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> Stop:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def handle(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
            self.deadline = time.monotonic() + STOP_GRACE_SECONDS
            print(f"\n{signal.Signals(signum).name}: stopping ansible-playbook (again to kill it at once)",
                  file=sys.stderr, flush=True)
            _signal_children(signal.SIGINT, group=False)
        else:
            self.kill()

    def kill(self) -> None:
        self.cancelled.set()  # ansible-runner's own kill, and it stops waiting for output
        _signal_children(signal.SIGKILL, group=True)

    def overdue(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


def _signal_children(signum: int, group: bool) -> None:
    """ansible-runner starts ansible-playbook as our child in its own session (a pseudo-terminal), so a
    terminal's Ctrl-C never reaches it: pass the signal on, to its process group when killing."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" ", 1)
            ppid = rest.rsplit(")", 1)[1].split()[1]
            if ppid == me:
                os.killpg(int(pid), signum) if group else os.kill(int(pid), signum)
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to signal


def run(request: RunRequest, host_counts: dict[str, int]) -> RunOutcome:
    env = runner_env(request.mitogen)  # a bad --mitogen is reported before anything is created
    artifacts = new_artifacts_dir(request.label)
    state = RunState()
    progress = Progress(state, host_counts, quiet=request.quiet)
    cancelled = threading.Event()
    asks_password = request.become_password is not None
    cmdline = " ".join(flag for flag, on in (("--check", request.check), ("--diff", request.diff),
                                              ("--ask-become-pass", asks_password)) if on)
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
        passwords={BECOME_PROMPT: request.become_password} if asks_password else None,
        # ansible-runner writes its inputs, passwords included, to env/ in the artifacts folder unless told not to.
        suppress_env_files=asks_password,
        envvars=env,
        fact_cache=str(fact_cache_dir(request.inventory)),  # absolute, shared by this inventory's runs
        event_handler=progress,
        cancel_callback=cancelled.is_set,
        quiet=True,
        ident="run",
    )
    if request.verbosity:
        print(f"running: {' '.join(runner.config.command)}", flush=True)
    with Stop(cancelled) as stop:
        while thread.is_alive():
            thread.join(0.2)
            if stop.overdue() and not cancelled.is_set():
                stop.kill()
            if cancelled.is_set():
                thread.join(5)  # ansible-runner notices within its 5 s output timeout; do not wait longer
                break
    progress.close()
    if stop.signum is not None:
        return RunOutcome(runner.rc if runner.rc is not None else 128 + stop.signum, runner.status or "canceled",
                          state, artifacts, list(runner.config.command), interrupted=stop.signum)
    if runner.rc is None:
        raise UserError(f"ansible-playbook did not start; see {artifacts}")
    return RunOutcome(runner.rc, runner.status, state, artifacts, list(runner.config.command))
