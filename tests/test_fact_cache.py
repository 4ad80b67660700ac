"""Each inventory has its own fact cache: host names repeat across inventories, facts must not."""

import os
from pathlib import Path

from clusterboot.paths import ARTIFACTS_DIR
from clusterboot.runner import fact_cache_dir


def test_inventories_with_the_same_name_do_not_share_facts(tmp_path):
    lab, staging = tmp_path / "lab" / "cluster", tmp_path / "staging" / "cluster"
    assert fact_cache_dir(lab) != fact_cache_dir(staging)
    assert fact_cache_dir(lab).name.startswith("cluster-")
    assert fact_cache_dir(lab).parent == ARTIFACTS_DIR / "facts"


def test_one_inventory_keeps_its_cache_whatever_the_spelling(tmp_path, monkeypatch):
    inventories = tmp_path / "inventory"
    (inventories / "lab100").mkdir(parents=True)
    (inventories / "other").mkdir()
    os.symlink(inventories / "lab100", tmp_path / "link")
    expected = fact_cache_dir(inventories / "lab100")
    assert expected.name.startswith("lab100-")
    # Spellings that differ as Paths but name the same folder: through '..', a symlink, relative to the cwd.
    assert fact_cache_dir(inventories / "other" / ".." / "lab100") == expected
    assert fact_cache_dir(tmp_path / "link") == expected
    monkeypatch.chdir(inventories)
    assert fact_cache_dir(Path("lab100")) == expected
