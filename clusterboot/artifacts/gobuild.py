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


def run(cache: Path, build: GoBuild, log_file: Path, go: Path) -> Path:
    """Build (unless cached) and return the folder holding the binaries named in build.outputs."""
    root = build_dir(cache, build)
    out = root / "out"
    if (root / DONE).exists():
        return out
    if build.cgo:
        _require_cgo_tools(build)
    shutil.rmtree(root, ignore_errors=True)
    src = root / "src"
    if build.mode == "wrapper":
        _write_wrapper(src, build, go)
    else:
        _copy_module(src, build, go)
    env = {**go_env(go), "CGO_ENABLED": "1" if build.cgo else "0"}
    tags = ["-tags", ",".join(build.tags)] if build.tags else []
    cmd = [str(go), "build", "-trimpath", *tags, "-o", str(out) + "/", "-ldflags", " ".join(build.ldflags),
           *build.packages]
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


def _require_cgo_tools(build: GoBuild) -> None:
    """A cgo build needs a C compiler, and with the seccomp tag libseccomp's headers and static library."""
    missing = [tool for tool in ("gcc", "pkg-config") if shutil.which(tool) is None]
    if "seccomp" in build.tags and "pkg-config" not in missing:
        seccomp = subprocess.run(["pkg-config", "--exists", "libseccomp"], capture_output=True, check=False)
        if seccomp.returncode != 0:
            missing.append("libseccomp-dev")
    if missing:
        raise UserError(f"building {build.name} needs {', '.join(missing)} on this machine: "
                        f"apt-get install {' '.join(missing)} (./dev does it)")


def go_env(go: Path) -> dict[str, str]:
    """The pinned Go first on PATH, never switching toolchains, no cgo; modules checked by the checksum
    database (through the proxy, as `go` does by default) against go.sum."""
    return {**os.environ, "PATH": f"{go.parent}{os.pathsep}{os.environ.get('PATH', '')}", "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}


def module_info(go: Path, module: str, version: str) -> dict:
    """`go mod download -json`: the module's folder in the module cache, its go.mod, its checksum."""
    proc = subprocess.run([str(go), "mod", "download", "-json", f"{module}@{version}"], capture_output=True,
                          env=go_env(go), check=False)
    info = json.loads(proc.stdout or b"{}")
    if proc.returncode != 0 or "Error" in info:
        raise UserError(f"cannot download Go module {module}@{version}: {info.get('Error', proc.stderr.decode().strip())}")
    return info


def _copy_module(src: Path, build: GoBuild, go: Path) -> None:
    info = module_info(go, build.module, build.version)
    shutil.copytree(info["Dir"], src)
    for path in (src, *src.rglob("*")):  # the module cache is read-only; go build writes go.sum here
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    edits = [f"-replace={module}={module}@{version}" for module, version in build.replace_modules]
    edits += [flag for module in build.drop_modules for flag in (f"-dropreplace={module}", f"-droprequire={module}")]
    if edits:
        subprocess.run([str(go), "mod", "edit", *edits], cwd=src, env=go_env(go), check=True)
    if build.go_sum:
        with (src / "go.sum").open("a") as sums:
            sums.write("".join(f"{line}\n" for line in build.go_sum))


def _write_wrapper(src: Path, build: GoBuild, go: Path) -> None:
    src.mkdir(parents=True)
    lines = [f"module clusterboot.local/{build.name}-build", "", "go 1.24", ""]
    if not build.module.startswith("clusterboot.local/"):
        lines.append(f"require {build.module} {build.version}")
    lines += [f"require {module} {version}" for module, version in build.requires]
    if build.replace_staging:
        gomod = Path(module_info(go, build.module, build.version)["GoMod"]).read_text()
        staging_version = "v0." + build.version.split(".", 1)[1]
        staged = re.findall(r"^\s*(k8s\.io/\S+) => \./staging/", gomod, flags=re.M)
        lines += ["", "replace ("] + [f"\t{m} => {m} {staging_version}" for m in staged] + [")"]
    (src / "go.mod").write_text("\n".join(lines) + "\n")
    for relative, text in build.sources:
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        (src / relative).write_text(text)
