#!/usr/bin/env bash
# Provision the command-line tools of the chart test (host/tests/chart.rs):
# helm, kubectl and kubernetes-validate (../shared/tools/helm/install.sh);
# and headless Chromium (Debian's chromium) for the report test
# (host/tests/report.rs); strace for the zero-egress test (host/tests/llm.rs).
#
#   bash .ci/tools.sh up     install them (idempotent, ~7 s) and print
#                            PATH=<helm bindir>:<python scripts dir>:$PATH (expanded)
#   bash .ci/tools.sh down   nothing to stop
#
# Only the PATH=... line goes to stdout (.ci/run exports NAME=VALUE lines);
# progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${STEPSCALE_TOOLS:-$(cd .. && pwd)/shared/tools}
case "${1:-}" in
    up)
        bin=$(bash "$TOOLS/helm/install.sh" 2>&2 | tail -n1)
        [ -x "$bin/helm" ] || { echo "tools.sh: helm/install.sh gave no helm in '$bin'" >&2; exit 1; }
        # Where pip put kubernetes-validate, in case that is not on PATH yet.
        scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
        echo "tools.sh: $("$bin/helm" version --short 2>/dev/null || echo helm)" >&2
        if ! command -v chromium >/dev/null 2>&1; then
            echo "tools.sh: installing Debian's chromium" >&2
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
        fi
        # strace observes connection attempts (the zero-egress test).
        if ! command -v strace >/dev/null 2>&1; then
            echo "tools.sh: installing Debian's strace" >&2
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace) >&2
        fi
        if [ -n "$scripts" ] && [ -d "$scripts" ]; then
            echo "PATH=$bin:$scripts:$PATH"
        else
            echo "PATH=$bin:$PATH"
        fi
        ;;
    down)
        ;;
    *)
        echo "usage: bash .ci/tools.sh up|down" >&2
        exit 2
        ;;
esac
