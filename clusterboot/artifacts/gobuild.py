"""Run one GoBuild into a cache folder keyed by module, version and recipe; a second run builds nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from clusterboot.artifacts.recipes import GoBuild
from clusterboot.errors import UserError

DONE = ".built"


def build_dir(cache: Path, build: GoBuild) -> Path:
    return cache / "gobuild" / f"{build.name}-{build.version}-{build.recipe_hash()}"


def is_built(cache: Path, build: GoBuild) -> bool:
    return (build_dir(cache, build) / DONE).exists()


# Kubernetes 1.34's go.mod asks for Go 1.24.
MINIMUM_GO = (1, 24)


def run(cache: Path, build: GoBuild, log_file: Path) -> Path:
    """Build (unless cached) and return the folder holding the binaries named in build.outputs."""
    root = build_dir(cache, build)
    out = root / "out"
    if (root / DONE).exists():
        return out
    _require_go()
    shutil.rmtree(root, ignore_errors=True)
    src = root / "src"
    if build.mode == "wrapper":
        _write_wrapper(src, build)
    else:
        _copy_module(src, build)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    cmd = ["go", "build", "-trimpath", "-o", str(out) + "/", "-ldflags", " ".join(build.ldflags), *build.packages]
    with log_file.open("ab") as log:
        log.write(f"$ (cd {src} && {' '.join(cmd)})\n".encode())
        log.flush()
        proc = subprocess.run(cmd, cwd=src, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise UserError(f"building {build.name} {build.version} failed; see {log_file}")
    missing = [name for name in build.outputs if not (out / name).exists()]
    if missing:
        raise UserError(f"building {build.name} made no {', '.join(missing)}; see {log_file}")
    (root / DONE).write_text(json.dumps({"module": build.module, "version": build.version}) + "\n")
    return out


def _require_go() -> None:
    found = shutil.which("go")
    version = subprocess.run([found, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout \
        if found else ""
    numbers = re.match(r"go(\d+)\.(\d+)", version.strip())
    if not numbers or tuple(map(int, numbers.groups())) < MINIMUM_GO:
        raise UserError(f"building the artifacts needs Go {'.'.join(map(str, MINIMUM_GO))} or newer on PATH "
                        f"(found: {version.strip() or 'no go'}); install it from go.dev and rerun")


def module_info(module: str, version: str) -> dict:
    """`go mod download -json`: the module's folder in the module cache, its go.mod, its checksum."""
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, check=False)
    info = json.loads(proc.stdout or b"{}")
    if proc.returncode != 0 or "Error" in info:
        raise UserError(f"cannot download Go module {module}@{version}: {info.get('Error', proc.stderr.decode().strip())}")
    return info


def _copy_module(src: Path, build: GoBuild) -> None:
    info = module_info(build.module, build.version)
    shutil.copytree(info["Dir"], src)
    for folder, commit in build.git_folders:
        _extract_git_folder(src, build, folder, commit)
    for path in (src, *src.rglob("*")):  # the module cache is read-only; go build writes go.sum here
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def _extract_git_folder(src: Path, build: GoBuild, folder: str, commit: str) -> None:
    """Unpack one folder of the module's repository at a commit, from the git copy named by an env variable."""
    variable = f"CLUSTERBOOT_GIT_{build.name.upper().replace('-', '_')}"
    repo = os.environ.get(variable, "")
    archive = subprocess.run(["git", "--git-dir", repo, "archive", commit, folder], capture_output=True, check=False) \
        if repo else None
    if archive is None or archive.returncode != 0:
        raise UserError(
            f"building {build.name} needs its folder {folder}/ at commit {commit[:12]}, which the Go module proxy does "
            f"not serve: set {variable} to a git clone (or bare mirror) of the {build.name} repository holding that commit"
        )
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)


def _write_wrapper(src: Path, build: GoBuild) -> None:
    src.mkdir(parents=True)
    lines = [f"module clusterboot.local/{build.name}-build", "", "go 1.24", ""]
    if not build.module.startswith("clusterboot.local/"):
        lines.append(f"require {build.module} {build.version}")
    lines += [f"require {module} {version}" for module, version in build.requires]
    if build.replace_staging:
        gomod = Path(module_info(build.module, build.version)["GoMod"]).read_text()
        staging_version = "v0." + build.version.split(".", 1)[1]
        staged = re.findall(r"^\s*(k8s\.io/\S+) => \./staging/", gomod, flags=re.M)
        lines += ["", "replace ("] + [f"\t{m} => {m} {staging_version}" for m in staged] + [")"]
    (src / "go.mod").write_text("\n".join(lines) + "\n")
    for relative, text in build.sources:
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        (src / relative).write_text(text)
