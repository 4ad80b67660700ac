"""The upgrade path kubeadm allows, decided before anything changes: one minor at a time, never down."""

import pytest

from clusterboot import upgrade_path


@pytest.mark.parametrize("running, target", [
    (["v1.35.6", "v1.35.6"], "1.36.5"),  # the next minor
    (["v1.36.3", "v1.36.3"], "1.36.5"),  # a patch
    (["v1.36.5", "v1.36.5"], "1.36.5"),  # a rerun: nothing to do, allowed
    (["v1.36.5", "v1.35.6", "v1.36.5"], "1.36.5"),  # half done: finished by the same command
])
def test_allowed(running, target):
    assert upgrade_path.refusal(running, target) is None


@pytest.mark.parametrize("running, target, said", [
    (["v1.34.2"], "1.36.5",
     "1.36.5 is more than one minor past 1.34.2, which the cluster runs: kubeadm upgrades one minor at a time; "
     "go 1.34.2 → 1.35 → 1.36.5"),
    (["v1.36.5", "v1.35.6"], "1.37.2", "1.37.2 is more than one minor past 1.35.6"),  # half done: finish first
    (["v1.36.5"], "1.35.6", "1.35.6 is older than 1.36.5, which the cluster already runs: kubeadm does not downgrade"),
    (["v1.36.5"], "1.36.3", "1.36.3 is older than 1.36.5"),
    (["v1.36.5", "v1.35.6"], "1.35.6", "1.35.6 is older than 1.36.5"),  # a half-done upgrade is not undone
    (["v1.36.5"], "2.0.0", "more than one minor past 1.36.5"),
])
def test_refused_naming_the_path(running, target, said):
    assert said in upgrade_path.refusal(running, target)


def test_versions_with_build_metadata_parse():
    assert upgrade_path.parse("v1.36.5+k3s1") == (1, 36, 5)
    assert upgrade_path.parse("1.37.0-rc.1") == (1, 37, 0)
