"""Counting results from ansible-runner events."""

from clusterboot.progress import RunState

CENSORED = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}


def test_a_changed_no_log_task_counts_as_changed() -> None:
    """A no_log task's event hides `changed`; Ansible's closing stats are what the summary reports."""
    state = RunState()
    state.apply({"event": "runner_on_ok", "event_data": {"host": "wk003", "task": "Run kubeadm join", "res": CENSORED}})
    assert state.hosts["wk003"].changed == 0  # all the event itself tells
    state.apply({"event": "playbook_on_stats",
                 "event_data": {"ok": {"wk003": 1}, "changed": {"wk003": 1}, "skipped": {}}})
    assert state.hosts["wk003"].changed == 1
    assert state.totals().changed == 1
