#!/bin/bash
# Replace this control plane's etcd data with a snapshot, once per restore (its work folder holds the markers):
# a run cut anywhere in here is finished by running it again, and the data it replaced is never lost.
#   restore-etcd-data.sh WORK_DIR IMAGE NAME PEER_URL INITIAL_CLUSTER TOKEN PREVIOUS_DATA
# etcdutl comes from the etcd image kubelet already has: it needs no running etcd.
set -euo pipefail
work=$1 image=$2 name=$3 peer_url=$4 initial_cluster=$5 token=$6 previous=$7
data=/var/lib/etcd restored=/var/lib/etcd.restored mnt=/run/clusterboot-etcd-image

if [ -e "$work/restored" ]; then
    echo "etcd's data was already restored by this restore"
    exit 0
fi
if [ ! -e "$work/moved" ]; then
    rm -rf "$restored"
    mkdir -p "$mnt"
    ctr -n k8s.io images unmount --rm "$mnt" >/dev/null 2>&1 || true
    ctr -n k8s.io images mount "$image" "$mnt" >/dev/null
    trap 'ctr -n k8s.io images unmount --rm "$mnt" >/dev/null' EXIT
    # Revisions bumped past any a client has seen, and marked compacted: every watch of the old cluster
    # lists again instead of waiting for revisions that will never come (etcd's advice for Kubernetes).
    "$mnt/usr/local/bin/etcdutl" snapshot restore "$work/snapshot.db" --name "$name" \
        --initial-cluster "$initial_cluster" --initial-cluster-token "$token" \
        --initial-advertise-peer-urls "$peer_url" --data-dir "$restored" \
        --bump-revision 1000000000 --mark-compacted
    if [ -d "$data" ]; then  # absent when a run was cut right after this move
        rm -rf "$previous"
        mv "$data" "$previous"
    fi
    touch "$work/moved"
fi
if [ -d "$restored" ]; then
    mv "$restored" "$data"
fi
touch "$work/restored"
echo "etcd's data restored (the data it replaced: $previous)"
