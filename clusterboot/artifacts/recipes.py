"""What the offline Kubernetes artifacts are built from: Go modules pinned by version, and the images made of them.

The Kubernetes version comes from the inventory (`cluster_kubernetes_version`); the versions of etcd, CoreDNS
and pause come from the built kubeadm itself (`kubeadm config images list`), so they always match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from clusterboot.artifacts.toolchain import GO_VERSION
from clusterboot.errors import UserError


@dataclass(frozen=True)
class CalicoSource:
    """A Calico release as the Go module proxy serves it.

    The monorepo is not tagged with Go-valid versions, so each module is named by the pseudo-version of the
    release tag's commit. Its go.mod replaces two nested modules with ./api and ./lib/std, which the module
    zip leaves out: they are taken from the proxy at the versions holding the same code (a public go.mod,
    projectcalico/vpp-dataplane's, pins the same pair for the release), with their go.sum lines pinned here.
    lib/httpmachinery, the third nested module, is dropped: only whisker-backend imports it, which is not built.
    """

    module_version: str
    commit: str
    api_version: str
    api_sums: tuple[str, str]  # h1 of the zip, h1 of go.mod
    std_sums: tuple[str, str]


# By the release the calico role declares (calico_version): one entry per release the proxy serves whole.
CALICO_SOURCES = {
    "v3.31.0": CalicoSource(
        module_version="v0.0.0-20251021213802-b1f3c43f8437",
        commit="b1f3c43f84370504e218eb5be8a34c81348f866a",
        api_version="v0.0.0-20251022175904-f2ab03771208",
        api_sums=("h1:ltTWo/cCc/8pEpzmlzIjt6r2383x2XDPkuBcd/9kE3k=", "h1:0+91//9pw8kMOyWwG1egVY9a9y43kVTLZfiEF1l5IQc="),
        std_sums=("h1:iLY3Uzt4pVX3jpS9Wt+mxakq1nfzN/32t6YZK9n7p/U=", "h1:CjRtnCtQlXAxROAfoVztMfaBDWFqpuZmWM9EfBkcj8c="),
    ),
}
CALICO_MODULE = "github.com/projectcalico/calico"
CNI_PLUGINS_VERSION = "v1.7.1"
# crictl of Kubernetes' minor, as pkgs.k8s.io pairs them. It is a CRI client, not tied to kubelet's minor: where
# the module proxy refuses a minor's cri-tools (v1.35.0 to v1.35.2 answer 403), the next minor's is built.
CRI_TOOLS_MINOR_PATCH = "0"
CRI_TOOLS_INSTEAD = {"1.35": "1.36"}


def cri_tools_version(kubernetes_minor: str) -> str:
    return f"v{CRI_TOOLS_INSTEAD.get(kubernetes_minor, kubernetes_minor)}.{CRI_TOOLS_MINOR_PATCH}"


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
    # Module builds: go.mod's replace targets swapped for modules of the proxy: ((module, version), ...);
    # modules whose requirement and replacement are dropped; go.sum lines added before building.
    replace_modules: tuple[tuple[str, str], ...] = ()
    drop_modules: tuple[str, ...] = ()
    go_sum: tuple[str, ...] = ()
    # Build tags; cgo on (runc's nsenter and libseccomp): the build host needs gcc and the C headers.
    tags: tuple[str, ...] = ()
    cgo: bool = False

    def recipe_hash(self) -> str:
        text = repr((self.module, self.version, self.packages, self.mode, self.ldflags, self.sources,
                     self.replace_staging, self.replace_modules, self.drop_modules, self.go_sum,
                     RECIPE_REVISION, GO_VERSION)
                    + ((self.requires,) if self.requires else ())
                    + ((self.tags, self.cgo) if self.tags or self.cgo else ()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# Seconds each cold step took on a 2-core machine with empty caches (`./dev fresh`; docs/benchmarks.md):
# the build announces its plan and time from these, scaled by the cores it has.
COLD_SECONDS = {"kubernetes": 275, "etcd": 16, "coredns": 82, "pause": 1, "cri-tools": 25, "cni-plugins": 4,
                "calico": 165, "containerd": 110, "runc": 15, "images": 60}
COLD_SECONDS_CORES = 2


def cold_estimate(steps: list[str], cores: int) -> float:
    """Seconds a cold build of these steps should take with this many cores (Go builds use them all)."""
    return sum(COLD_SECONDS.get(step, 0) for step in steps) * COLD_SECONDS_CORES / max(1, min(cores, 16))


# Bump when the build commands change in a way the fields above do not show.
RECIPE_REVISION = "2"

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

# etcdutl beside them, as upstream's image has it: `snapshot status` and `snapshot restore` (etcdctl's were removed
# in 3.6). Upstream's main package cannot be imported, so this is its ctl.go and main.go with the same commands.
ETCDUTL_MAIN = """package main

import (
\t"github.com/spf13/cobra"

\t"go.etcd.io/etcd/etcdutl/v3/etcdutl"
\t"go.etcd.io/etcd/pkg/v3/cobrautl"
)

func main() {
\troot := &cobra.Command{Use: "etcdutl", Short: "An administrative command line tool for etcd3."}
\troot.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple",
\t\t"set the output format (fields, json, protobuf, simple, table)")
\troot.AddCommand(etcdutl.NewDefragCommand(), etcdutl.NewSnapshotCommand(), etcdutl.NewHashKVCommand(),
\t\tetcdutl.NewVersionCommand(), etcdutl.NewMigrateCommand())
\troot.SetHelpTemplate(`{{.UsageString}}`)
\tif err := root.Execute(); err != nil {
\t\tcobrautl.ExitWithError(cobrautl.ExitError, err)
\t}
}
"""

# The sandbox container: sleeps until told to stop, reaps nothing (it is not PID 1 of a shared pid namespace
# in kubelet's default pod setup). `-v` prints a version and exits, as upstream's pause.c does: kubeadm upgrade
# apply's health check is a Job running `pause -v` that must complete.
PAUSE_MAIN = """package main

import (
\t"fmt"
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tif len(os.Args) > 1 && os.Args[1] == "-v" {
\t\tfmt.Println("pause (clusterboot)")
\t\treturn
\t}
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


def component_builds(kubernetes_minor: str, etcd_version: str, coredns_version: str,
                     calico_version: str) -> list[GoBuild]:
    """Everything besides Kubernetes itself, at the versions its kubeadm asks for."""
    return [
        GoBuild(name="etcd", module="go.etcd.io/etcd/server/v3", version=f"v{etcd_version}", mode="wrapper",
                packages=("./cmd/etcd", "./cmd/etcdctl", "./cmd/etcdutl"),
                requires=(("go.etcd.io/etcd/etcdctl/v3", f"v{etcd_version}"), ("go.etcd.io/etcd/etcdutl/v3", f"v{etcd_version}")),
                sources=(("cmd/etcd/main.go", ETCD_MAIN), ("cmd/etcdctl/main.go", ETCDCTL_MAIN),
                         ("cmd/etcdutl/main.go", ETCDUTL_MAIN)),
                ldflags=("-s", "-w"), outputs=("etcd", "etcdctl", "etcdutl")),
        GoBuild(name="coredns", module="github.com/coredns/coredns", version=coredns_version,
                packages=(".",), ldflags=("-s", "-w"), outputs=("coredns",)),
        GoBuild(name="pause", module="clusterboot.local/pause", version="v0.0.0", mode="wrapper",
                packages=("./cmd/pause",), sources=(("cmd/pause/main.go", PAUSE_MAIN),), ldflags=("-s", "-w"),
                outputs=("pause",)),
        GoBuild(name="cri-tools", module="sigs.k8s.io/cri-tools", version=cri_tools_version(kubernetes_minor),
                packages=("./cmd/crictl",), outputs=("crictl",),
                ldflags=("-s", "-w", f"-X sigs.k8s.io/cri-tools/pkg/version.Version={cri_tools_version(kubernetes_minor)}")),
        GoBuild(name="cni-plugins", module="github.com/containernetworking/plugins", version=CNI_PLUGINS_VERSION,
                packages=("./plugins/main/loopback", "./plugins/meta/portmap", "./plugins/meta/bandwidth",
                          "./plugins/ipam/host-local"),
                ldflags=("-s", "-w"), outputs=("loopback", "portmap", "bandwidth", "host-local")),
        calico_build(calico_version),
    ]


# containerd's LTS line: its RELEASES.md lists Kubernetes 1.36 and 1.37 for 2.3 (Debian 12's 1.6.20 is in no
# row). runc is the one that containerd release names (script/setup/runc-version).
CONTAINERD_VERSION = "v2.3.7"
RUNC_VERSION = "v1.5.2"
CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr")


def runtime_builds() -> list[GoBuild]:
    """containerd and runc, for nodes whose OS ships an older containerd."""
    containerd = "github.com/containerd/containerd/v2"
    return [
        # No btrfs snapshotter (cgo and libbtrfs headers); overlayfs is what kubelet's nodes use.
        GoBuild(name="containerd", module=containerd, version=CONTAINERD_VERSION,
                packages=tuple(f"./cmd/{c}" for c in CONTAINERD_COMMANDS), tags=("no_btrfs",),
                ldflags=("-s", "-w", f"-X {containerd}/version.Version={CONTAINERD_VERSION}",
                         f"-X {containerd}/version.Package={containerd}"),
                outputs=CONTAINERD_COMMANDS),
        # runc's release build without libpathrs (a Rust library, new in 1.5): seccomp through libseccomp,
        # linked statically so a node needs no libseccomp of a given version.
        GoBuild(name="runc", module="github.com/opencontainers/runc", version=RUNC_VERSION, packages=(".",),
                cgo=True, tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"),
                ldflags=("-s", "-w", f"-X main.version={RUNC_VERSION.removeprefix('v')}", "-extldflags -static"),
                outputs=("runc",)),
    ]


def calico_source(calico_version: str) -> CalicoSource:
    if calico_version not in CALICO_SOURCES:
        raise UserError(f"calico_version {calico_version} cannot be built offline: the artifacts know Calico "
                        f"{', '.join(CALICO_SOURCES)} (clusterboot/artifacts/recipes.py); set calico_version to one")
    return CALICO_SOURCES[calico_version]


def calico_build(calico_version: str) -> GoBuild:
    """VXLAN only: no BGP daemon, no cgo (the eBPF data plane is not built in)."""
    source = calico_source(calico_version)
    api, std = "github.com/projectcalico/api", f"{CALICO_MODULE}/lib/std"
    return GoBuild(
        name="calico", module=CALICO_MODULE, version=source.module_version,
        packages=("./node/cmd/calico-node", "./cni-plugin/cmd/calico", "./cni-plugin/cmd/install",
                  "./kube-controllers/cmd/kube-controllers", "./kube-controllers/cmd/check-status"),
        # What calico's Makefiles stamp (lib.Makefile's LDFLAGS): calico-node reports this version to the datastore.
        ldflags=("-s", "-w", f"-X {CALICO_MODULE}/pkg/buildinfo.Version={calico_version}",
                 f"-X {CALICO_MODULE}/pkg/buildinfo.GitRevision={source.commit}"),
        replace_modules=((api, source.api_version), (std, source.module_version)),
        drop_modules=(f"{CALICO_MODULE}/lib/httpmachinery",),
        go_sum=(f"{api} {source.api_version} {source.api_sums[0]}",
                f"{api} {source.api_version}/go.mod {source.api_sums[1]}",
                f"{std} {source.module_version} {source.std_sums[0]}",
                f"{std} {source.module_version}/go.mod {source.std_sums[1]}"),
        outputs=("calico-node", "calico", "install", "kube-controllers", "check-status"),
    )
