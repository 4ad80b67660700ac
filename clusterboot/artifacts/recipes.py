"""What the offline Kubernetes artifacts are built from: Go modules pinned by version, and the images made of them.

The Kubernetes version comes from the inventory (`cluster_kubernetes_version`); the versions of etcd, CoreDNS
and pause come from the built kubeadm itself (`kubeadm config images list`), so they always match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Calico's monorepo module is not tagged with Go-valid versions; this pseudo-version is the release-v3.28
# branch (v3.28.4 + 11 commits; its manifests say v3.28.5), the one the module proxy serves here.
CALICO_MODULE_VERSION = "v1.11.0-cni-plugin.0.20250813170300-a0db560f0520"
CALICO_IMAGE_TAG = "v3.28.4-11-ga0db560f05"  # `git describe` of that commit: Calico parses it as a version
# Its go.mod replaces github.com/projectcalico/api with ./api, a nested module that the module zip leaves out
# and the proxy does not serve: it is taken from a git copy of projectcalico/calico at the same commit.
CALICO_COMMIT = "a0db560f0520abf7c4fed6a6043a7c4ae80f20a4"
CNI_PLUGINS_VERSION = "v1.7.1"
# crictl follows Kubernetes' minor: kubeadm's preflight requires it.
CRI_TOOLS_MINOR_PATCH = "0"


@dataclass(frozen=True)
class GoBuild:
    """One `go build` of some main packages from one module at one version.

    mode "wrapper": a generated module requires `module` (for modules whose go.mod replaces with relative
    paths, which only work inside their own repository); mode "module": build inside a copy of the module,
    so its own go.mod, go.sum and replace directives apply exactly as upstream builds it.
    """

    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    mode: str = "module"
    ldflags: tuple[str, ...] = ()
    # Other modules a wrapper build requires at a pinned version: ((module, version), ...).
    requires: tuple[tuple[str, str], ...] = ()
    # Extra main files for wrapper builds: {relative path: Go source}.
    sources: tuple[tuple[str, str], ...] = ()
    # For wrappers of k8s.io/kubernetes: its staging modules are replaced by their published v0.x.
    replace_staging: bool = False
    outputs: tuple[str, ...] = field(default=())
    # Nested modules the module zip omits: (folder, git commit) taken from a local git copy of the repo.
    git_folders: tuple[tuple[str, str], ...] = ()

    def recipe_hash(self) -> str:
        text = repr((self.module, self.version, self.packages, self.mode, self.ldflags, self.sources,
                     self.replace_staging, self.git_folders, RECIPE_REVISION)
                    + ((self.requires,) if self.requires else ()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# Bump when the build commands change in a way the fields above do not show.
RECIPE_REVISION = "1"

ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""

# etcdctl beside etcd in its image, as upstream ships it: `kubectl exec etcd-<node> -- etcdctl member list`.
ETCDCTL_MAIN = """package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
"""

# The sandbox container: sleeps until told to stop, reaps nothing (it is not PID 1 of a shared pid namespace
# in kubelet's default pod setup).
PAUSE_MAIN = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tsignals := make(chan os.Signal, 1)
\tsignal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
\t<-signals
}
"""


def kubernetes_ldflags(version: str, build_date: str) -> tuple[str, ...]:
    """The version stamp `kubeadm version` and `kubelet --version` print (hack/lib/version.sh's fields)."""
    major, minor, _ = version.split(".")
    stamps = {"gitVersion": f"v{version}", "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean", "buildDate": build_date}
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in stamps.items()]
    return tuple(flags)


KUBERNETES_COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
                       "kube-scheduler", "kube-proxy")


def kubernetes_build(version: str, build_date: str) -> GoBuild:
    return GoBuild(
        name="kubernetes", module="k8s.io/kubernetes", version=f"v{version}", mode="wrapper",
        packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS),
        ldflags=kubernetes_ldflags(version, build_date), replace_staging=True, outputs=KUBERNETES_COMMANDS,
    )


def component_builds(kubernetes_minor: str, etcd_version: str, coredns_version: str) -> list[GoBuild]:
    """Everything besides Kubernetes itself, at the versions its kubeadm asks for."""
    return [
        GoBuild(name="etcd", module="go.etcd.io/etcd/server/v3", version=f"v{etcd_version}", mode="wrapper",
                packages=("./cmd/etcd", "./cmd/etcdctl"), requires=(("go.etcd.io/etcd/etcdctl/v3", f"v{etcd_version}"),),
                sources=(("cmd/etcd/main.go", ETCD_MAIN), ("cmd/etcdctl/main.go", ETCDCTL_MAIN)),
                ldflags=("-s", "-w"), outputs=("etcd", "etcdctl")),
        GoBuild(name="coredns", module="github.com/coredns/coredns", version=coredns_version,
                packages=(".",), ldflags=("-s", "-w"), outputs=("coredns",)),
        GoBuild(name="pause", module="clusterboot.local/pause", version="v0.0.0", mode="wrapper",
                packages=("./cmd/pause",), sources=(("cmd/pause/main.go", PAUSE_MAIN),), ldflags=("-s", "-w"),
                outputs=("pause",)),
        GoBuild(name="cri-tools", module="sigs.k8s.io/cri-tools", version=f"v{kubernetes_minor}.{CRI_TOOLS_MINOR_PATCH}",
                packages=("./cmd/crictl",), outputs=("crictl",),
                ldflags=("-s", "-w", f"-X sigs.k8s.io/cri-tools/pkg/version.Version=v{kubernetes_minor}.{CRI_TOOLS_MINOR_PATCH}")),
        GoBuild(name="cni-plugins", module="github.com/containernetworking/plugins", version=CNI_PLUGINS_VERSION,
                packages=("./plugins/main/loopback", "./plugins/meta/portmap", "./plugins/meta/bandwidth",
                          "./plugins/ipam/host-local"),
                ldflags=("-s", "-w"), outputs=("loopback", "portmap", "bandwidth", "host-local")),
        # VXLAN only: no BGP daemon, no cgo (the eBPF data plane is not built in).
        GoBuild(name="calico", module="github.com/projectcalico/calico", version=CALICO_MODULE_VERSION,
                packages=("./node/cmd/calico-node", "./cni-plugin/cmd/calico", "./cni-plugin/cmd/install",
                          "./kube-controllers/cmd/kube-controllers", "./kube-controllers/cmd/check-status"),
                ldflags=("-s", "-w", f"-X github.com/projectcalico/calico/node/buildinfo.GitVersion={CALICO_IMAGE_TAG}",
                         f"-X github.com/projectcalico/calico/node/buildinfo.GitRevision={CALICO_COMMIT}",
                         f"-X github.com/projectcalico/calico/node/pkg/lifecycle/startup.VERSION={CALICO_IMAGE_TAG}"),
                git_folders=(("api", CALICO_COMMIT),),
                outputs=("calico-node", "calico", "install", "kube-controllers", "check-status")),
    ]
