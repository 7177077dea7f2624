#!/usr/bin/env bash
# Provision a real Prometheus for the fleet benchmark (tests/benches/fleet.rs).
#
#   bash .ci/fleet_prometheus.sh up [N]   write N autoscalers' weeks of history
#                                         (.ci/fleet_openmetrics.py, default 1000),
#                                         backfill them into Debian's prometheus and
#                                         print STEPSCALE_FLEET_PROMETHEUS_URL=http://127.0.0.1:PORT
#   bash .ci/fleet_prometheus.sh down     stop it
#
# Only the URL line goes to stdout; progress goes to stderr. Run directory:
# $STEPSCALE_FLEET_PROMETHEUS_DIR (default /tmp/stepscale-fleet-prometheus);
# port: $STEPSCALE_FLEET_PROMETHEUS_PORT (default 19091). The OpenMetrics file
# (about 1.3 GB for 1,000 autoscalers) is deleted once it is backfilled.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${STEPSCALE_TOOLS:-$(cd .. && pwd)/shared/tools}
DATA=${STEPSCALE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
RUNDIR=${STEPSCALE_FLEET_PROMETHEUS_DIR:-/tmp/stepscale-fleet-prometheus}
PORT=${STEPSCALE_FLEET_PROMETHEUS_PORT:-19091}
case "${1:-}" in
    up)
        n=${2:-1000}
        mkdir -p "$RUNDIR"
        python3 .ci/fleet_openmetrics.py "$DATA" "$n" "$RUNDIR/fleet.om" >&2
        url=$(bash "$TOOLS/prometheus/up.sh" "$RUNDIR" "$RUNDIR/fleet.om" "$PORT" 2>&2 | tail -n1)
        rm -f "$RUNDIR/fleet.om"
        case "$url" in
            http://*) ;;
            *) echo "fleet_prometheus.sh: up.sh printed no URL; see $RUNDIR/*.log" >&2; exit 1 ;;
        esac
        echo "fleet_prometheus.sh: serving $n autoscalers' history at $url" >&2
        echo "STEPSCALE_FLEET_PROMETHEUS_URL=$url"
        ;;
    down)
        bash "$TOOLS/prometheus/down.sh" "$RUNDIR" >&2
        ;;
    *)
        echo "usage: bash .ci/fleet_prometheus.sh up [N]|down" >&2
        exit 2
        ;;
esac
