"""The end-of-run report: per-host table (problems first), totals, artifacts, and the retry command."""

from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

from clusterboot import timeline
from clusterboot.progress import RunState


# What ssh (stock Ansible) and Mitogen say when a node's host key is not the one known_hosts holds for it.
HOST_KEY_CHANGED = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|mismatching host key|Host key verification failed")


def failed_hosts(state: RunState) -> list[str]:
    return sorted(h for h, r in state.hosts.items() if r.failed or r.unreachable)


def write_retry_file(state: RunState, artifacts: Path) -> Path | None:
    hosts = failed_hosts(state)
    if not hosts:
        return None
    path = artifacts / "retry.txt"
    path.write_text("".join(f"{h}\n" for h in hosts))
    return path


def retry_command(argv: list[str], retry_file: Path) -> str:
    """The same command, limited to the hosts that failed."""
    kept, skip_next = [], False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in ("--limit", "-l"):
            skip_next = True
            continue
        if arg.startswith("--limit="):
            continue
        kept.append(arg)
    return shlex.join(["python", "bootstrap.py", *kept, "--limit", f"@{retry_file}"])


def rerun_command(argv: list[str]) -> str:
    """The same command: every role is idempotent, so a rerun finishes what an interrupted run left."""
    return shlex.join(["python", "bootstrap.py", *argv])


def render(state: RunState, artifacts: Path, argv: list[str], rc: int, interrupted: int | None = None,
           planned_plays: list[str] | None = None, recorded: str = "") -> str:
    problems = set(failed_hosts(state))
    rows = sorted(state.hosts.items(), key=lambda item: (item[0] not in problems, item[0]))
    lines = [f"{'host':14} {'ok':>5} {'changed':>7} {'failed':>6} {'unreach':>7} {'skipped':>7}  failing task: message"]
    for name, r in rows:
        detail = f"  {r.failed_task}: {r.message}" if name in problems else ""
        lines.append(f"{name:14} {r.ok:5} {r.changed:7} {r.failed:6} {r.unreachable:7} {r.skipped:7}{detail}")
    t = state.totals()
    lines.append(f"totals: {len(rows)} hosts, ok={t.ok} changed={t.changed} failed={t.failed} "
                 f"unreachable={t.unreachable} skipped={t.skipped}")
    for note, hosts in state.notes.items():
        lines.append(f"note ({_hosts(hosts)}): {note}")
    changed_keys = sorted(h for h in problems if HOST_KEY_CHANGED.search(state.hosts[h].message))
    if changed_keys:
        # Never accepted silently: a new key is a reinstalled machine or something else at that address.
        lines.append(f"refused ({_hosts(changed_keys)}): its SSH host key is not one known for it. If the machine "
                     "was reinstalled, replace the old key: ssh-keygen -R ADDRESS, then ssh-keyscan ADDRESS >> "
                     "KNOWN_HOSTS once you have checked the new key's fingerprint (the inventory's "
                     "UserKnownHostsFile, else ~/.ssh/known_hosts), and rerun; otherwise find out what answers "
                     "at that address.")
    lines.append(f"artifacts: {artifacts}")
    if (artifacts / timeline.FILE_NAME).exists():
        lines.append(f"timeline: {artifacts / timeline.FILE_NAME}")
    if recorded:  # where ARA recorded the run (clusterboot/ara_record.py)
        lines.append(recorded)
    if interrupted is not None:
        finished = state.plays[:-1]
        where = f"play '{state.play}', task '{state.task}'" if state.task else f"play '{state.play}'"
        lines.append(f"interrupted by {signal.Signals(interrupted).name} in {where}"
                     if state.play else f"interrupted by {signal.Signals(interrupted).name} before the first play")
        lines.append(f"finished plays: {', '.join(finished) if finished else 'none'}")
        lines.append("nodes may be part-way through that task; rerunning the same command finishes it:")
        lines.append(f"  {rerun_command(argv)}")
        return "\n".join(lines)
    retry_file = write_retry_file(state, artifacts)
    # Ansible stops the whole run when a play has no host left (every one of its hosts failed, or one did under
    # any_errors_fatal): the plays after it never ran anywhere, so a retry of the failed hosts alone would leave
    # them undone on the others.
    never_ran = [play for play in planned_plays or [] if play not in state.plays]
    if retry_file is not None and never_ran:
        lines.append(f"{len(problems)} host(s) did not finish, and the run stopped before {_plays(never_ran)}; "
                     "after fixing them, run the whole command again:")
        lines.append(f"  {rerun_command(argv)}")
    elif retry_file is not None:
        lines.append(f"{len(problems)} host(s) did not finish; after fixing them, retry only those:")
        lines.append(f"  {retry_command(argv, retry_file)}")
    elif rc != 0:
        lines.append("the run failed before any host reported a failure; see the artifacts' stdout")
    return "\n".join(lines)


def _plays(plays: list[str]) -> str:
    return "play " + repr(plays[0]) if len(plays) == 1 else f"{len(plays)} plays ('{plays[0]}', ...)"


def _hosts(hosts: list[str]) -> str:
    return ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
