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


def result(kind: str, host: str, **data) -> dict:
    return {"event": kind, "event_data": {"host": host, **data}}


def test_results_are_counted_per_host_and_failures_keep_their_task_and_message() -> None:
    state = RunState()
    assert state.apply({"event": "playbook_on_play_start", "event_data": {"play": "Join the nodes"}}) == "play"
    assert state.apply({"event": "playbook_on_task_start", "event_data": {"task": "Run kubeadm join"}}) == "task"
    assert state.apply(result("runner_on_ok", "wk001", res={"changed": True})) == "result"
    state.apply(result("runner_on_ok", "wk001", res={"changed": False}))
    state.apply(result("runner_on_skipped", "wk001"))
    state.apply(result("runner_on_failed", "wk002", res={"msg": "token\n   expired", "stderr": "ignored"}))
    state.apply(result("runner_on_unreachable", "wk003", task="Gathering Facts", res={"stderr": "no route"}))
    state.apply(result("runner_on_failed", "wk004", ignore_errors=True, res={"msg": "tolerated"}))
    assert state.apply({"event": "runner_on_start", "event_data": {"host": "wk001"}}) is None
    assert state.apply(result("runner_on_ok", "")) is None  # no host: nothing to count
    wk001, wk002, wk003, wk004 = (state.hosts[h] for h in ("wk001", "wk002", "wk003", "wk004"))
    assert (wk001.ok, wk001.changed, wk001.skipped, wk001.failed) == (2, 1, 1, 0)
    assert (wk002.failed, wk002.failed_task, wk002.message) == (1, "Run kubeadm join", "token expired")
    assert (wk003.unreachable, wk003.failed_task, wk003.message) == (1, "Gathering Facts", "no route")
    assert (wk004.ok, wk004.failed, wk004.message) == (1, 0, "")  # ignore_errors: an ok, not a failure
    assert state.task_done == {"wk001", "wk002", "wk003", "wk004"}
    assert (state.play, state.task) == ("Join the nodes", "Run kubeadm join")
    state.apply({"event": "playbook_on_task_start", "event_data": {"task": "Next"}})
    assert state.task_done == set()


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


def test_changed_counts_every_changed_result_and_only_debug_messages_become_notes() -> None:
    state = RunState()
    for task_action, res in (
        ("ansible.builtin.apt", {"changed": True, "msg": "installed"}),  # a module's msg is not a note
        ("ansible.builtin.copy", {"changed": True}),
        ("ansible.builtin.copy", {"changed": False}),
        ("ansible.builtin.debug", {"msg": ""}),  # an empty debug says nothing
        ("debug", {"msg": "swap is on"}),
    ):
        state.apply(result("runner_on_ok", "wk001", task_action=task_action, res=res))
    # A failed or skipped debug task, or a failure that reports changed, neither notes nor counts as changed.
    state.apply(result("runner_on_failed", "wk001", task_action="debug", res={"changed": True, "msg": "assert"}))
    state.apply(result("runner_on_skipped", "wk001", task_action="debug", res={"msg": "skipped"}))
    wk001 = state.hosts["wk001"]
    assert (wk001.ok, wk001.changed, wk001.failed, wk001.skipped) == (5, 2, 1, 1)
    assert state.notes == {"swap is on": ["wk001"]}


def test_closing_stats_set_ok_and_skipped_and_a_message_is_the_module_reason_cut_to_300() -> None:
    state = RunState()
    state.apply(result("runner_on_ok", "wk001", res={}))
    state.apply(result("runner_on_unreachable", "wk002", res={"reason": "x" * 400}))
    # A no_log loop's censored items, for example, reach the events as fewer results than Ansible counted.
    state.apply({"event": "playbook_on_stats",
                 "event_data": {"ok": {"wk001": 4}, "changed": {"wk001": 0}, "skipped": {"wk001": 2}}})
    wk001 = state.hosts["wk001"]
    assert (wk001.ok, wk001.changed, wk001.skipped) == (4, 0, 2)
    assert state.hosts["wk002"].message == "x" * 300


def test_a_failure_that_says_nothing_has_an_empty_message_in_the_summary() -> None:
    """A censored (no_log) failure carries no msg, stderr or reason: the summary row shows its task, no text."""
    state = RunState()
    state.apply(result("runner_on_failed", "wk001", task="Run kubeadm join", res=CENSORED))
    assert state.hosts["wk001"].failed == 1
    assert state.hosts["wk001"].failed_task == "Run kubeadm join"
    assert state.hosts["wk001"].message == ""
