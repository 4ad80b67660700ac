"""The build's own Go, from the Go module proxy and checked against its pin; Calico's release known to the build.

Downloads the real toolchain (about 70 MB) from the proxy this machine reaches.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from clusterboot.artifacts import build, recipes, toolchain
from clusterboot.errors import UserError


def test_installs_the_pinned_go_and_reuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go = toolchain.go_binary(tmp_path)
    version = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == f"go{toolchain.GO_VERSION}"
    assert (go.parent / "gofmt").stat().st_mode & 0o111  # executable bits survive the unzip

    def no_download(url: str, dest: Path) -> None:
        raise AssertionError(f"downloaded again: {url}")

    monkeypatch.setattr(toolchain, "_download", no_download)
    assert toolchain.go_binary(tmp_path) == go


def test_bytes_other_than_the_pinned_ones_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(toolchain.GO_TOOLCHAIN_SHA256, toolchain.platform(), "0" * 64)
    with pytest.raises(UserError, match="not the pinned 0{64}: refusing it"):
        toolchain.go_binary(tmp_path)
    assert list((tmp_path / "toolchain").iterdir()) == []  # nothing half-installed is left to be used


def test_an_archive_path_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("golang.org/toolchain@v/bin/go", "ok")
        zipped.writestr("golang.org/toolchain@v/../../escaped", "no")
    with pytest.raises(UserError, match="unsafe path"):
        toolchain._unzip(archive, tmp_path / "out", prefix="golang.org/toolchain@v/")
    assert not (tmp_path / "escaped").exists()


def test_the_proxy_is_read_from_goproxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off,https://mirror.example/go/,direct")
    assert toolchain.proxy_url() == "https://mirror.example/go"
    monkeypatch.setenv("GOPROXY", "direct")
    assert toolchain.proxy_url() == toolchain.DEFAULT_PROXY


def test_the_calico_role_declares_a_release_the_build_knows() -> None:
    """Bumping calico_version without telling the build how the proxy serves it fails here, not after a
    20-minute build."""
    assert build.default_calico_version() in recipes.CALICO_SOURCES


def test_an_unknown_calico_release_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"calico_version v3\.99\.0 cannot be built offline: the artifacts know Calico v3\.31"):
        build.build("1.34.2", tmp_path, log=lambda line: None, calico_version="v3.99.0")
    assert not (tmp_path / "toolchain").exists()


def test_calico_builds_from_served_modules_only() -> None:
    """Its nested modules come from the proxy at pinned versions with pinned sums: no ./ path is left."""
    calico = recipes.calico_build(build.default_calico_version())
    replaced = dict(calico.replace_modules)
    assert set(replaced) == {"github.com/projectcalico/api", "github.com/projectcalico/calico/lib/std"}
    for module, version in replaced.items():
        assert [line.split()[1] for line in calico.go_sum if line.startswith(module + " ")] == \
            [version, f"{version}/go.mod"]
