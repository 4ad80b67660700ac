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


def test_plays_seen_and_debug_notes_reach_the_summary() -> None:
    """The interrupted-run summary names the plays that finished; a role's debug message is a note."""
    from pathlib import Path

    from clusterboot.summary import render

    state = RunState()
    for play in ("Validate the inventory and every node", "OS base"):
        state.apply({"event": "playbook_on_play_start", "event_data": {"play": play}})
    state.apply({"event": "playbook_on_task_start", "event_data": {"task": "Install the base packages"}})
    for host in ("cp01", "wk001"):
        state.apply({"event": "runner_on_ok", "event_data": {"host": host, "task": "Note", "task_action":
                     "ansible.builtin.debug", "res": {"msg": "dpkg was  interrupted\nhere"}}})
    text = render(state, Path("/tmp/run"), ["--inventory", "lab", "--phase", "nodes"], 254, interrupted=2)
    assert "note (cp01, wk001): dpkg was interrupted here" in text
    assert "interrupted by SIGINT in play 'OS base', task 'Install the base packages'" in text
    assert "finished plays: Validate the inventory and every node" in text
    assert text.endswith("  python bootstrap.py --inventory lab --phase nodes")
