"""Live progress from ansible-runner events: one line per task, or a redrawn status line on a terminal."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

RESULT_EVENTS = {
    "runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}

# A debug task is how a role tells the operator something without failing: the summary lists these.
DEBUG_ACTIONS = {"debug", "ansible.builtin.debug"}


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    failed_task: str = ""
    message: str = ""


@dataclass
class RunState:
    """Everything the progress display and the summary need, built from events."""

    hosts: dict[str, HostResult] = field(default_factory=dict)
    plays: list[str] = field(default_factory=list)  # in the order they started; all but the last finished
    notes: dict[str, list[str]] = field(default_factory=dict)  # a debug task's message -> hosts that said it
    play: str = ""
    task: str = ""
    task_done: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    def host(self, name: str) -> HostResult:
        return self.hosts.setdefault(name, HostResult())

    def apply(self, event: dict) -> str | None:
        """Update from one event; return the kind of change ('play', 'task', 'result') or None."""
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            self.play, self.task, self.task_done = data.get("play", ""), "", set()
            self.plays.append(self.play)
            return "play"
        if kind == "playbook_on_task_start":
            self.task, self.task_done = data.get("task", ""), set()
            return "task"
        if kind in RESULT_EVENTS and data.get("host"):
            self._result(RESULT_EVENTS[kind], data)
            return "result"
        if kind == "playbook_on_stats":
            self._stats(data)
        return None

    def _stats(self, data: dict) -> None:
        """Ansible's own counts at the end: a no_log task's censored result hides its `changed` from the events."""
        for name, key in (("changed", "changed"), ("ok", "ok"), ("skipped", "skipped")):
            for host, count in (data.get(key) or {}).items():
                setattr(self.host(host), name, count)

    def _result(self, outcome: str, data: dict) -> None:
        host = self.host(data["host"])
        result = data.get("res", {}) or {}
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "ok"
        if outcome == "ok" and result.get("changed"):
            host.changed += 1
        if outcome == "ok" and data.get("task_action") in DEBUG_ACTIONS and result.get("msg"):
            self.notes.setdefault(" ".join(str(result["msg"]).split())[:300], []).append(data["host"])
        setattr(host, outcome, getattr(host, outcome) + 1)
        if outcome in ("failed", "unreachable"):
            host.failed_task = data.get("task", self.task)
            host.message = _message(result)
        self.task_done.add(data["host"])

    def totals(self) -> HostResult:
        total = HostResult()
        for result in self.hosts.values():
            for name in ("ok", "changed", "failed", "unreachable", "skipped"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
        return total


def _message(result: dict) -> str:
    """The module's own words; secrets never reach here because no_log tasks report a censored result."""
    for key in ("msg", "stderr", "reason"):
        value = result.get(key)
        if value:
            return " ".join(str(value).split())[:300]
    return ""


class Progress:
    """Plain lines when not a terminal (CI logs: no control characters), a redrawn line on a terminal.

    A sharded run feeds it the events of several ansible-playbook processes at once, each with its own
    RunState (`for_state`): a play or task line is printed once, when the first process reaches it, and the
    status line counts every process's results."""

    def __init__(self, state: RunState, host_counts: dict[str, int], stream: TextIO = sys.stdout,
                 quiet: bool = False) -> None:
        self.state = state
        self.states = [state]
        self.host_counts = host_counts  # play name -> hosts it runs on
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty() and not quiet
        self.lock = threading.Lock()
        self.current = state  # whose play and task the status line shows: the last process heard from
        # Plays and (play, task)s already printed: a process that reaches one after another process moved on
        # prints nothing again.
        self.printed: set[str | tuple[str, str]] = set()
        self.done: dict[tuple[str, str], set[str]] = {}  # (play, task) -> hosts with a result, every process

    def for_state(self, state: RunState):
        """An event handler that updates `state` and this display."""
        with self.lock:
            self.states.append(state)
        return lambda event: self.handle(event, state)

    def __call__(self, event: dict) -> bool:
        return self.handle(event, self.state)

    def handle(self, event: dict, state: RunState) -> bool:
        with self.lock:
            change = state.apply(event)
            if self.quiet or change is None:
                return True
            if change == "play" and state.play not in self.printed:
                self._end_line()
                self.stream.write(f"PLAY {state.play}\n")
                self.printed.add(state.play)
            elif change == "task" and (state.play, state.task) not in self.printed:
                self.printed.add((state.play, state.task))
                if not self.live:
                    self.stream.write(f"  task: {state.task}\n")
            elif change == "result":
                self.done.setdefault((state.play, state.task), set()).update(state.task_done)
            self.current = state
            if self.live:
                self.stream.write("\r\x1b[2K" + self.status_line())
            self.stream.flush()
        return True

    def status_line(self) -> str:
        state = self.current
        totals = [s.totals() for s in self.states]
        ok, changed, failed, unreachable = (sum(getattr(t, k) for t in totals)
                                            for k in ("ok", "changed", "failed", "unreachable"))
        done = len(self.done.get((state.play, state.task), state.task_done))
        total = self.host_counts.get(state.play, 0)
        hosts = f"{done}/{total}" if total else str(done)
        return (f"  {state.task[:50]:50} hosts {hosts:>7}  ok={ok} changed={changed} failed={failed} "
                f"unreachable={unreachable}  {time.monotonic() - self.state.started:6.1f}s")

    def _end_line(self) -> None:
        if self.live and any(s.task for s in self.states):
            self.stream.write("\n")

    def close(self) -> None:
        self._end_line()
        self.stream.flush()
