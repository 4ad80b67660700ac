"""Which bootstrap token a join run reuses (roles/join/filter_plugins/join_tokens.py)."""

import importlib.util
from datetime import datetime, timezone
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent / "roles/join/filter_plugins/join_tokens.py"
spec = importlib.util.spec_from_file_location("join_tokens", PLUGIN)
join_tokens = importlib.util.module_from_spec(spec)
spec.loader.exec_module(join_tokens)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def pick(lines):
    return join_tokens.fresh_join_token(lines, "clusterboot join", 1800, now=NOW)


def test_reuses_our_token_with_time_left():
    assert pick(["abc.111\t2026-11-24T13:00:00Z\tclusterboot join"]) == "abc.111"


def test_ignores_tokens_that_expire_too_soon():
    assert pick(["abc.111\t2026-11-24T12:20:00Z\tclusterboot join"]) == ""


def test_ignores_other_peoples_tokens_and_never_expiring_ones():
    assert pick(["kubeadm.init\t2026-11-25T12:00:00Z\tdefault bootstrap token", "abc.222\t\tclusterboot join"]) == ""


def test_prefers_the_longest_lived():
    lines = ["abc.111\t2026-11-24T13:00:00Z\tclusterboot join", "abc.333\t2026-11-24T14:00:00Z\tclusterboot join"]
    assert pick(lines) == "abc.333"
