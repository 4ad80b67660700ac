"""Each inventory has its own fact cache: host names repeat across inventories, facts must not."""

from clusterboot.runner import ARTIFACTS_DIR, fact_cache_dir


def test_inventories_with_the_same_name_do_not_share_facts(tmp_path):
    lab, staging = tmp_path / "lab" / "cluster", tmp_path / "staging" / "cluster"
    assert fact_cache_dir(lab) != fact_cache_dir(staging)
    assert fact_cache_dir(lab).name.startswith("cluster-")
    assert fact_cache_dir(lab).parent == ARTIFACTS_DIR / "facts"


def test_one_inventory_keeps_its_cache_whatever_the_spelling(tmp_path):
    assert fact_cache_dir(tmp_path / "inventory" / "lab100") == fact_cache_dir(tmp_path / "inventory" / "./lab100")
