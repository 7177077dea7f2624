#!/usr/bin/env bash
# Provision a real control plane for the cluster integration tests (tests/cluster/).
#
#   bash .ci/k8s.sh up     build (once, cached) and start kube-apiserver v1.20.2 + etcd +
#                          kube-controller-manager + kube-scheduler on loopback and one real
#                          node (containerd, runc, kubelet; CONTAINERD_ADDRESS=... is printed
#                          for loading images), with RBAC authorization and a
#                          static token for the chart's ServiceAccount identity
#                          (system:serviceaccount:stepscale-rbac:rel-stepscale-autoscaler, for
#                          tests/cluster/rbac.rs); prints KUBECONFIG=/abs/path,
#                          STEPSCALE_TEST_OPERATOR_TOKEN and STEPSCALE_TEST_OPERATOR_NAMESPACE
#   bash .ci/k8s.sh down   stop it
#
# Only the KUBECONFIG=... line goes to stdout (.ci/run exports NAME=VALUE lines); all progress
# goes to stderr. The build takes ~8-12 min once per machine (see ../shared/tools/README.md).
# Run directory: $STEPSCALE_K8S_DIR, default /tmp/stepscale-k8s.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${STEPSCALE_TOOLS:-$(cd .. && pwd)/shared/tools}
RUNDIR=${STEPSCALE_K8S_DIR:-/tmp/stepscale-k8s}
case "${1:-}" in
    up)
        bash "$TOOLS/k8s/install.sh" >&2
        # The admin token keeps full access (system:masters); the operator's
        # identity gets only what the chart's Roles grant it.
        mkdir -p "$RUNDIR"
        OPERATOR_NS=stepscale-rbac
        OPERATOR_TOKEN=stepscale-operator-token
        printf '%s,system:serviceaccount:%s:rel-stepscale-autoscaler,stepscale-operator,"system:serviceaccounts,system:serviceaccounts:%s"\n' \
            "$OPERATOR_TOKEN" "$OPERATOR_NS" "$OPERATOR_NS" > "$RUNDIR.operator-token.csv"
        out=$(AUTHZ=RBAC EXTRA_TOKENS_FILE="$RUNDIR.operator-token.csv" bash "$TOOLS/k8s/up.sh" "$RUNDIR" --with-node)
        echo "$out" >&2
        line=$(printf '%s\n' "$out" | grep '^KUBECONFIG=' | tail -n1)
        [ -n "$line" ] || { echo "k8s.sh: up.sh printed no KUBECONFIG line; see $RUNDIR/*.log" >&2; exit 1; }
        echo "$line"
        printf '%s\n' "$out" | grep '^CONTAINERD_ADDRESS=' | tail -n1
        echo "STEPSCALE_TEST_OPERATOR_TOKEN=$OPERATOR_TOKEN"
        echo "STEPSCALE_TEST_OPERATOR_NAMESPACE=$OPERATOR_NS"
        ;;
    down)
        bash "$TOOLS/k8s/down.sh" "$RUNDIR" >&2
        ;;
    *)
        echo "usage: bash .ci/k8s.sh up|down" >&2
        exit 2
        ;;
esac
