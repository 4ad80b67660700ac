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


@pytest.mark.parametrize("apiservers, kubelets", [
    ({"cp01": "v1.36.5", "cp02": "v1.36.5"}, {"cp01": "v1.36.5", "wk001": "v1.36.5"}),
    ({"cp01": "v1.36.5", "cp02": "v1.35.5"}, {"cp01": "v1.35.5", "wk001": "v1.35.5"}),  # mid-upgrade
    ({"cp01": "v1.36.5"}, {"wk001": "v1.33.1"}),  # three minors behind: allowed
])
def test_skew_the_policy_allows(apiservers, kubelets):
    assert upgrade_path.skew_problems(apiservers, kubelets) == []


@pytest.mark.parametrize("apiservers, kubelets, said", [
    ({"cp01": "v1.36.5", "cp02": "v1.35.5"}, {"cp02": "v1.36.5"},
     "cp02: kubelet v1.36.5 is newer than the API server on cp02 (v1.35.5); upgrade the control planes first"),
    ({"cp01": "v1.36.5"}, {"wk001": "v1.32.9"},
     "wk001: kubelet v1.32.9 is more than 3 minors behind the API server on cp01 (v1.36.5); upgrade it"),
    ({"cp01": "v1.36.5", "cp02": "v1.34.2"}, {},
     "API servers are more than 1 minor apart: cp01 v1.36.5, cp02 v1.34.2"),
    ({}, {"wk001": "v1.36.5"}, "no API server version found"),
])
def test_skew_the_policy_forbids_is_named(apiservers, kubelets, said):
    assert said in upgrade_path.skew_problems(apiservers, kubelets)[0]
