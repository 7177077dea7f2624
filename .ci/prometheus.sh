#!/usr/bin/env bash
# Provision a real Prometheus for the backfill test (host/tests/prometheus.rs).
#
#   bash .ci/prometheus.sh up     write an OpenMetrics file from real NAB series
#                                 (.ci/nab_openmetrics.py, then .ci/day2_openmetrics.py
#                                 adds the node test's recent week), backfill it into
#                                 Debian's prometheus and print
#                                 STEPSCALE_TEST_PROMETHEUS_URL=http://ADDRESS:PORT
#   bash .ci/prometheus.sh down   stop it
#
# Only the STEPSCALE_TEST_PROMETHEUS_URL=... line goes to stdout (.ci/run exports
# NAME=VALUE lines); all progress goes to stderr. See ../shared/tools/README.md.
# Run directory: $STEPSCALE_PROMETHEUS_DIR (default /tmp/stepscale-prometheus);
# port: $STEPSCALE_PROMETHEUS_PORT (default 19090). ADDRESS is the test node's
# bridge 10.244.0.1 when `bash .ci/k8s.sh up` has started the node (pods on the
# node reach Prometheus there, and so does this host), else 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${STEPSCALE_TOOLS:-$(cd .. && pwd)/shared/tools}
DATA=${STEPSCALE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
RUNDIR=${STEPSCALE_PROMETHEUS_DIR:-/tmp/stepscale-prometheus}
PORT=${STEPSCALE_PROMETHEUS_PORT:-19090}
case "${1:-}" in
    up)
        mkdir -p "$RUNDIR"
        python3 .ci/nab_openmetrics.py \
            "$DATA/traces/nab/cpu_utilization_asg_misconfiguration.csv" "$RUNDIR/nab.om" >&2
        python3 .ci/day2_openmetrics.py "$DATA" "$RUNDIR/nab.om" "$RUNDIR/all.om" >&2
        if ip -4 addr show sscni0 2>/dev/null | grep -q 'inet 10\.244\.0\.1/'; then
            export PROM_ADDRESS=10.244.0.1
        fi
        url=$(bash "$TOOLS/prometheus/up.sh" "$RUNDIR" "$RUNDIR/all.om" "$PORT" 2>&2 | tail -n1)
        case "$url" in
            http://*) ;;
            *) echo "prometheus.sh: up.sh printed no URL; see $RUNDIR/*.log" >&2; exit 1 ;;
        esac
        echo "prometheus.sh: serving the NAB fixture at $url" >&2
        echo "STEPSCALE_TEST_PROMETHEUS_URL=$url"
        ;;
    down)
        bash "$TOOLS/prometheus/down.sh" "$RUNDIR" >&2
        ;;
    *)
        echo "usage: bash .ci/prometheus.sh up|down" >&2
        exit 2
        ;;
esac
