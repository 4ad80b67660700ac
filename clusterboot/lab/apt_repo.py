"""A signed apt repository with pkgs.k8s.io's layout, served over HTTPS to a lab, so the `upstream` install path
(deb822 source, signed-by key, version pin, hold) runs for real with only its URL changed.

The .deb packages hold the offline artifacts' kubeadm, kubelet, kubectl and crictl (the binaries pkgs.k8s.io
ships for the same version, built here from source) with the kubelet unit and kubeadm drop-in the official
packages install. The repo is signed with a key of its own; the HTTPS certificate is issued by a CA of its
own, which the lab nodes are told to trust (as real nodes trust pkgs.k8s.io's public CA).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from clusterboot.errors import UserError
from clusterboot.docker_engine import docker

KUBELET_UNIT = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""
KUBEADM_DROP_IN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
# pkgs.k8s.io's Debian revision of a release (kubernetes_packages_revision).
REVISION = "1.1"
CA_PATH_ON_NODES = "/usr/local/share/ca-certificates/clusterboot-lab-apt.crt"
REPRODUCIBLE_EPOCH = 1_700_000_000  # SOURCE_DATE_EPOCH of the .debs: every file's and member's time


@dataclass(frozen=True)
class Package:
    name: str
    files: dict[str, tuple[bytes, int]]  # path in the package: (content, mode)
    depends: str
    description: str


@dataclass(frozen=True)
class AptRepo:
    root: Path  # what the server serves: core:/stable:/v<minor>/deb/ below it
    minor: str
    ca_cert: Path
    cert: Path
    key: Path

    def url(self, address: str, port: int = 443) -> str:
        return f"https://{address}{'' if port == 443 else f':{port}'}/core:/stable:/v{self.minor}/deb/"


def packages(artifacts: Path) -> list[Package]:
    """The four packages pkgs.k8s.io ships for a release, from the artifacts' binaries."""
    def binary(name: str) -> tuple[bytes, int]:
        return (artifacts / "bin" / name).read_bytes(), 0o755

    return [
        Package("cri-tools", {"usr/bin/crictl": binary("crictl")}, "", "CLI for CRI runtimes"),
        Package("kubectl", {"usr/bin/kubectl": binary("kubectl")}, "", "Kubernetes command line tool"),
        Package("kubelet", {"usr/bin/kubelet": binary("kubelet"),
                            "usr/lib/systemd/system/kubelet.service": (KUBELET_UNIT.encode(), 0o644)},
                "iptables, iproute2, mount, ethtool, ebtables, socat, conntrack", "Kubernetes node agent"),
        Package("kubeadm", {"usr/bin/kubeadm": binary("kubeadm"),
                            "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf":
                                (KUBEADM_DROP_IN.encode(), 0o644)},
                "kubelet, kubectl, cri-tools", "Kubernetes cluster bootstrapping tool"),
    ]


def build(artifacts: Path, out: Path, address: str) -> AptRepo:
    """Build the .debs, the signed flat repo and a CA-issued certificate for `address` under `out`."""
    manifest = json.loads((artifacts / "manifest.json").read_text())
    version = manifest["kubernetes_version"].lstrip("v")
    minor = ".".join(version.split(".")[:2])
    if out.exists():
        shutil.rmtree(out)
    repo = out / "www" / "core:" / "stable:" / f"v{minor}" / "deb"
    (repo / "amd64").mkdir(parents=True)
    entries = [_build_deb(p, f"{version}-{REVISION}", repo, out / "staging") for p in packages(artifacts)]
    index = "\n".join(entries).encode()
    (repo / "Packages").write_bytes(index)
    (repo / "Packages.gz").write_bytes(gzip.compress(index, mtime=0))
    (repo / "Release").write_text(_release(repo, ["Packages", "Packages.gz"]))
    gnupg = out / "gnupg"
    gnupg.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--quiet", "--homedir", str(gnupg), "--pinentry-mode", "loopback", "--passphrase", ""]
    _run(*gpg, "--quick-gen-key", "clusterboot lab apt repo <lab@clusterboot.invalid>", "ed25519", "sign", "never")
    _run(*gpg, "--armor", "--export", "--output", str(repo / "Release.key"))
    _run(*gpg, "--clearsign", "--output", str(repo / "InRelease"), str(repo / "Release"))
    _run(*gpg, "--armor", "--detach-sign", "--output", str(repo / "Release.gpg"), str(repo / "Release"))
    _run("gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent")  # gpg started one; nothing else needs it
    ca_cert, cert, key = _certificates(out / "tls", address)
    return AptRepo(root=out / "www", minor=minor, ca_cert=ca_cert, cert=cert, key=key)


def trust_ca(repo: AptRepo, containers: list[str]) -> None:
    """Tell each lab node to trust the repo's CA (what a real node's public CA bundle does for pkgs.k8s.io)."""
    for container in containers:
        docker("cp", str(repo.ca_cert), f"{container}:{CA_PATH_ON_NODES}")
        docker("exec", container, "update-ca-certificates")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        self.server.requested.append(self.path)  # what crossed "the uplink", for the cache's test
        super().do_GET()


class Server:
    """The repo over HTTPS on the lab network's gateway address (the machine running the lab)."""

    # 443 as pkgs.k8s.io: apt-cacher-ng refuses to fetch HTTPS from other ports (AllowUserPorts).
    def __init__(self, repo: AptRepo, address: str, port: int = 443):
        handler = functools.partial(_QuietHandler, directory=str(repo.root))
        self._httpd = http.server.ThreadingHTTPServer((address, port), handler)
        self._httpd.requested = []
        # A client that drops its TLS connection early (apt-cacher-ng does) is not an error worth a traceback.
        self._httpd.handle_error = lambda request, client_address: None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(repo.cert, repo.key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def requested(self) -> list[str]:
        """Every path asked for so far, in order."""
        return list(self._httpd.requested)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def gateway_address(subnet: str) -> str:
    """Docker gives a user-defined network's first address to the host: nodes reach the machine there."""
    return str(ipaddress.ip_network(subnet).network_address + 1)


def _build_deb(package: Package, version: str, repo: Path, staging: Path) -> str:
    root = staging / package.name
    for path, (content, mode) in package.files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
        (root / path).chmod(mode)
    (root / "DEBIAN").mkdir(parents=True)
    control = {"Package": package.name, "Version": version, "Architecture": "amd64",
               "Maintainer": "clusterboot lab <lab@clusterboot.invalid>", "Section": "admin", "Priority": "optional",
               "Depends": package.depends, "Description": package.description}
    (root / "DEBIAN" / "control").write_text("".join(f"{k}: {v}\n" for k, v in control.items() if v))
    filename = f"amd64/{package.name}_{version}_amd64.deb"
    # The same bytes for the same version on every build, as on pkgs.k8s.io: a package cache that kept a
    # .deb from an earlier build of the repo still matches the new index. dpkg-deb clamps every time to it.
    _run("dpkg-deb", "--root-owner-group", "-Znone", "--build", str(root), str(repo / filename),
         env={**os.environ, "SOURCE_DATE_EPOCH": str(REPRODUCIBLE_EPOCH)})
    data = (repo / filename).read_bytes()
    control.update(Filename=filename, Size=str(len(data)), SHA256=hashlib.sha256(data).hexdigest())
    return "".join(f"{k}: {v}\n" for k, v in control.items() if v)


def _release(repo: Path, files: list[str]) -> str:
    lines = ["Origin: clusterboot lab", "Label: clusterboot lab", "Architectures: amd64",
             f"Date: {formatdate(usegmt=True)}", "SHA256:"]
    for name in files:
        data = (repo / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    return "\n".join(lines) + "\n"


def _certificates(folder: Path, address: str) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True)
    ca_key, ca_cert, key, csr, cert = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "2", "-subj", "/CN=clusterboot lab apt CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={address}")
    with tempfile.NamedTemporaryFile("w", suffix=".ext") as ext:
        ext.write(f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n")
        ext.flush()
        _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", ext.name)
    return ca_cert, cert, key


def _run(*argv: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise UserError(f"{argv[0]} failed building the lab apt repo: {proc.stderr.strip()[-500:]}")


if __name__ == "__main__":  # python -m clusterboot.lab.apt_repo ARTIFACTS OUT SUBNET: build and serve until killed
    built = build(Path(sys.argv[1]), Path(sys.argv[2]), gateway_address(sys.argv[3]))
    with Server(built, gateway_address(sys.argv[3])) as server:
        print(built.url(gateway_address(sys.argv[3]), server.port), flush=True)
        threading.Event().wait()
