"""Run a playbook through ansible-runner with the project's ansible.cfg, one artifacts folder per run."""

from __future__ import annotations

import dataclasses
import datetime
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

from clusterboot import ara_record, shards, timeline
from clusterboot.errors import UserError
from clusterboot.mitogen import prepare_ssh_control_dir, strategy_env
from clusterboot.paths import ANSIBLE_CFG, ARTIFACTS_DIR, PROJECT_DIR, ROLES_DIR
from clusterboot.progress import Progress, RunState
from clusterboot.shards import Step

KEEP_RUNS = 20
# In each run folder: "PID START" of the process whose run it is (START: its start time, /proc/PID/stat's 22nd
# field, so a reused PID is not taken for it). Pruning leaves a folder alone while that process lives.
OWNER_FILE = "owner"
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
    # Extra variables for the processes of a sharded step only (each shard's share of the install batch).
    shard_vars: dict = field(default_factory=dict)
    # The inventory's cluster_ara_record: ARA's callback records every ansible-playbook (clusterboot/ara_record.py).
    ara: bool = False


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
    recorded: str = ""  # where ARA recorded the run, for the summary; empty without cluster_ara_record


def runner_env(mitogen_mode: str = "auto", ara: bool = False) -> dict[str, str]:
    """ansible-runner's defaults turn host key checking off and move the fact cache per run: undo both. With `ara`,
    ARA's callback records the run."""
    prepare_ssh_control_dir()
    return {
        **strategy_env(mitogen_mode),
        **(ara_record.callback_env(os.environ) if ara else {}),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def fact_cache_dir(inventory: Path) -> Path:
    """Facts are cached by host name: one folder per inventory, so two inventories that both name a host
    `cp01` (a lab and a staging cluster) never read each other's facts (distribution, addresses)."""
    resolved = inventory.resolve()
    return ARTIFACTS_DIR / "facts" / f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


def past_runs() -> list[Path]:
    """Every run's artifacts folder, oldest first (named by their start time; not facts/ or backups/)."""
    if not ARTIFACTS_DIR.is_dir():
        return []
    return sorted(p for p in ARTIFACTS_DIR.iterdir() if p.is_dir() and p.name[:1].isdigit())


def new_artifacts_dir(label: str) -> Path:
    """A new run folder; the oldest past the newest KEEP_RUNS are removed, unless another process's run (a
    second terminal, a long spark-submit) is still writing to them."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    runs = past_runs()
    for old in runs[: max(0, len(runs) - KEEP_RUNS + 1)]:
        if not _under_way(old):
            shutil.rmtree(old, ignore_errors=True)
    stamp, suffix = time.strftime('%Y%m%d-%H%M%S'), 1
    while True:
        path = ARTIFACTS_DIR / (f"{stamp}-{label}" if suffix == 1 else f"{stamp}-{label}-{suffix}")
        try:
            path.mkdir()  # not exists() then mkdir(): two runs started in the same second each get their own
        except FileExistsError:
            suffix += 1
            continue
        (path / OWNER_FILE).write_text(f"{os.getpid()} {_started(os.getpid())}\n")
        return path


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _under_way(run: Path) -> bool:
    try:
        pid, started = (run / OWNER_FILE).read_text().split()
        return _started(int(pid)) == started
    except (OSError, ValueError):
        return False  # a run from before owner files, or its file cut short: finished long ago


class Stop:
    """SIGINT (Ctrl-C) and SIGTERM during a run. The first asks ansible-playbook to stop: it gets SIGINT,
    as on its own terminal, so it abandons the task under way, stops its workers and exits; the events so
    far still reach the summary. The second, or the grace period running out, kills it at once.

    ansible-playbook can lose that SIGINT: its handler raises KeyboardInterrupt, and when the signal lands
    while it forks a worker (once per task-host) CPython runs the handler inside logging's after-fork hook and
    drops the exception ("Exception ignored in: <function _releaseLock>"; 2 in 40 interrupts of a local
    playbook). The handler has reset SIGINT to its default by then, so when a task starts after the signal,
    a second SIGINT ends the process at once."""

    def __init__(self, cancelled: threading.Event) -> None:
        self.cancelled = cancelled
        self.signum: int | None = None
        self.deadline: float | None = None
        self.signalled_at: float | None = None  # time.time() of the SIGINT passed on; None once resent
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
            self.signalled_at = time.time()
            _signal_children(signal.SIGINT, group=False)
        else:
            self.kill()

    def watch(self, handler):
        """`handler` (an ansible-runner event handler), noting a task that starts after the SIGINT."""
        def watched(event: dict) -> bool:
            signalled_at = self.signalled_at
            if signalled_at is not None and event.get("event") == "playbook_on_task_start" \
                    and datetime.datetime.fromisoformat(event["created"]).timestamp() > signalled_at:
                self.signalled_at = None
                _signal_children(signal.SIGINT, group=False)  # the first was lost: see the class's comment
            return handler(event)
        return watched

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


def run(request: RunRequest, host_counts: dict[str, int], steps: list[Step] | None = None) -> RunOutcome:
    """One ansible-playbook for the request; or, given steps (clusterboot/shards.py), one per step, and one
    per shard of hosts for a sharded step, run in parallel. Either way the operator sees one run: one progress
    display, one summary state, one exit status, one artifacts folder (a sub-folder per process)."""
    env = runner_env(request.mitogen, request.ara)  # a bad --mitogen is reported before anything is created
    outcome = _run(request, host_counts, steps, env)
    return dataclasses.replace(outcome, recorded=ara_record.where(os.environ)) if request.ara else outcome


def _run(request: RunRequest, host_counts: dict[str, int], steps: list[Step] | None, env: dict[str, str]) -> RunOutcome:
    artifacts = new_artifacts_dir(request.label)
    state = RunState()
    progress = Progress(state, host_counts, quiet=request.quiet)
    cancelled = threading.Event()
    if not steps:
        return _run_alone(request, artifacts, state, progress, env, cancelled)
    states: list[RunState] = []
    rcs: list[int] = []
    commands: list[list[str]] = []
    failed: set[str] = set()
    with Stop(cancelled) as stop:
        for number, step in enumerate(steps, 1):
            jobs = []
            folder = artifacts / f"{number:02d}"
            folder.mkdir()
            playbook = step.playbook(folder, ROLES_DIR)
            for index, limit in enumerate(_limits(request, step, failed), 1):
                shard_state = RunState()
                states.append(shard_state)
                where = folder / f"shard{index}" if step.shards else folder
                where.mkdir(exist_ok=True)
                sub = dataclasses.replace(
                    request, playbook=playbook or request.playbook, tags=step.tags or request.tags,
                    limit=limit, extra_vars={**request.extra_vars, **(request.shard_vars if step.shards else {})})
                jobs.append((*_start(sub, where, stop.watch(progress.for_state(shard_state)), env, cancelled),
                             shard_state))
            _wait([thread for thread, _, _ in jobs], stop, cancelled)
            for _, runner, _ in jobs:
                rcs.append(runner.rc if runner.rc is not None else 1)
                commands.append(list(runner.config.command))
            failed |= {host for _, _, s in jobs for host, r in s.hosts.items() if r.failed or r.unreachable}
            step_failed = any(runner.rc != 0 for _, runner, _ in jobs)
            if stop.signum is not None or (step_failed and (not failed or any(p.any_errors_fatal for p in step.plays))):
                break
    progress.close()
    _write_timeline(artifacts)
    (artifacts / "commands.txt").write_text("".join(f"{' '.join(c)}\n" for c in commands))
    merged = shards.merge(states)
    rc = shards.merged_rc(rcs)
    if stop.signum is not None:
        return RunOutcome(rc or 128 + stop.signum, "canceled", merged, artifacts, commands[0] if commands else [],
                          interrupted=stop.signum)
    return RunOutcome(rc, "successful" if rc == 0 else "failed", merged, artifacts, commands[0] if commands else [])


def _limits(request: RunRequest, step: Step, failed: set[str]) -> list[str | None]:
    """Each process's --limit: its shard's hosts; else the operator's limit. Hosts that failed in an earlier
    step are left out, as one ansible-playbook leaves them out of its later plays."""
    if step.shards:
        return [",".join(kept) for kept in ([h for h in part if h not in failed] for part in step.shards) if kept]
    if not failed:
        return [request.limit]
    return [",".join([request.limit or "all", *(f"!{host}" for host in sorted(failed))])]


def _start(request: RunRequest, private_dir: Path, handler, env: dict[str, str], cancelled: threading.Event):
    asks_password = request.become_password is not None
    cmdline = " ".join(flag for flag, on in (("--check", request.check), ("--diff", request.diff),
                                              ("--ask-become-pass", asks_password)) if on)
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(private_dir),
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
        event_handler=handler,
        cancel_callback=cancelled.is_set,
        quiet=True,
        ident="run",
    )
    if request.verbosity:
        print(f"running: {' '.join(runner.config.command)}", flush=True)
    return thread, runner


def _wait(threads: list[threading.Thread], stop: Stop, cancelled: threading.Event) -> None:
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(0.2 / len(threads))
        if stop.overdue() and not cancelled.is_set():
            stop.kill()
        if cancelled.is_set():
            for thread in threads:
                thread.join(5)  # ansible-runner notices within its 5 s output timeout; do not wait longer
            break


def _write_timeline(artifacts: Path) -> None:
    """timeline.html, drawn from the event files once ansible-playbook has exited, so it costs the run nothing.
    Failed and interrupted runs get one too; whatever goes wrong drawing it never changes the run's outcome."""
    try:
        timeline.write(artifacts)
    except (Exception, KeyboardInterrupt) as err:  # a Ctrl-C here must not lose the summary still to come
        print(f"timeline: not written ({type(err).__name__}: {err})", file=sys.stderr, flush=True)


def _run_alone(request: RunRequest, artifacts: Path, state: RunState, progress: Progress, env: dict[str, str],
               cancelled: threading.Event) -> RunOutcome:
    """Today's run: one ansible-playbook for the whole request."""
    with Stop(cancelled) as stop:
        thread, runner = _start(request, artifacts, stop.watch(progress), env, cancelled)
        _wait([thread], stop, cancelled)
    progress.close()
    _write_timeline(artifacts)
    if stop.signum is not None:
        return RunOutcome(runner.rc if runner.rc is not None else 128 + stop.signum, runner.status or "canceled",
                          state, artifacts, list(runner.config.command), interrupted=stop.signum)
    if runner.rc is None:
        raise UserError(f"ansible-playbook did not start; see {artifacts}")
    return RunOutcome(runner.rc, runner.status, state, artifacts, list(runner.config.command))
