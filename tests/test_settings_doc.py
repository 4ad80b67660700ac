"""docs/settings.md is what `python bootstrap.py settings` prints from the roles' argument specs: never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clusterboot import settings_doc

PROJECT = Path(__file__).resolve().parent.parent


def test_the_committed_reference_is_current() -> None:
    committed = (PROJECT / "docs" / "settings.md").read_text()
    assert committed == settings_doc.render(), \
        "docs/settings.md is stale: python bootstrap.py settings > docs/settings.md"


def test_every_declared_setting_is_in_the_reference() -> None:
    reference = settings_doc.render()
    for spec_file in (PROJECT / "roles").glob("*/meta/argument_specs.yml"):
        for entry in settings_doc._spec(spec_file.parent.parent).values():
            for name in entry.get("options", {}):
                assert f"| `{name}` |" in reference, f"{name} ({spec_file}) is missing"


def test_the_cli_prints_it() -> None:
    proc = subprocess.run([sys.executable, "bootstrap.py", "settings"], cwd=PROJECT, capture_output=True, text=True,
                          check=True)
    assert proc.stdout == settings_doc.render()
    assert "| `calico_version` | str | `v3.31.0` |" in proc.stdout
