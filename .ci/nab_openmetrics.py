#!/usr/bin/env python3
"""Write the OpenMetrics file that .ci/prometheus.sh backfills into a real
Prometheus for host/tests/prometheus.rs: cAdvisor- and kube-state-metrics-like
series of one HPA-scaled Deployment, built from a real NAB series.

Usage: nab_openmetrics.py NAB_CSV OUT.om

The fixture (host/tests/prometheus.rs derives its expectations from the same
CSV and this description, never from the code under test):

- Source: the first 576 rows (2 days at 5 min) of
  cpu_utilization_asg_misconfiguration.csv; value u_i is CPU utilization, %.
- Time: each NAB timestamp (read as UTC) moved SHIFT_SECONDS later: 522 weeks,
  keeping weekday and time of day, plus 60 s so samples land on the 5-minute
  grid (01:14 -> 01:15). The data then lies in 2024, inside Prometheus'
  retention.
- Workload: namespace "nab", Deployment "checkout", HPA "checkout".
  Two pods, checkout-6d5f7c9b8d-k2x7p and checkout-6d5f7c9b8d-q9w4z, container
  "app", each requesting 0.25 CPU cores and using u_i/100 * 0.25 cores during
  (t_{i-1}, t_i]. container_cpu_usage_seconds_total is the cumulative counter,
  sampled every 60 s from t_0 - 300 s (value 0) to the last t. So
  100 * sum(rate(usage[5m])) / sum(requests) at t_i is exactly u_i.
- Replicas: desired_i = max(1, ceil(u_i / 25)); current_i = desired_{i-1}
  (current_0 = desired_0); kube_deployment_status_replicas = current_i.
- Decoys the default queries must NOT pick up: the pod-level cgroup series
  (container="") of each checkout pod, a pod of Deployment "checkout-worker"
  in the same namespace, a "checkout" pod and HPA in namespace "other".
"""

import csv
import datetime
import math
import sys

ROWS = 576
SHIFT_SECONDS = 522 * 7 * 86400 + 60
REQUEST_CORES = 0.25
PODS = ["checkout-6d5f7c9b8d-k2x7p", "checkout-6d5f7c9b8d-q9w4z"]
WORKER_POD = "checkout-worker-7f8b9c6d5-abcde"
OTHER_POD = "checkout-6d5f7c9b8d-zzzzz"


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))[:ROWS]
    out = []
    for r in rows:
        t = datetime.datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S")
        t = t.replace(tzinfo=datetime.timezone.utc)
        out.append((int(t.timestamp()) + SHIFT_SECONDS, float(r["value"])))
    return out


def labels(**kv):
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: nab_openmetrics.py NAB_CSV OUT.om")
    series = load(sys.argv[1])
    if len(series) != ROWS:
        sys.exit(f"{sys.argv[1]}: expected at least {ROWS} rows")
    t0, t_last = series[0][0], series[-1][0]
    # CPU cores used per pod during the interval ending at each NAB sample.
    def cores_at(minute_end):
        for t, u in series:
            if minute_end <= t:
                return u / 100.0 * REQUEST_CORES
        return 0.0

    minutes = list(range(t0 - 300, t_last + 1, 60))
    per_pod = []  # cumulative seconds at each minute
    total = 0.0
    for i, m in enumerate(minutes):
        if i > 0:
            total += cores_at(m) * 60.0
        per_pod.append(total)

    out = []
    w = out.append
    w("# HELP container_cpu_usage_seconds Cumulative cpu time consumed in seconds.")
    w("# TYPE container_cpu_usage_seconds counter")
    for pod in PODS:
        lab = labels(namespace="nab", pod=pod, container="app")
        for m, v in zip(minutes, per_pod):
            w(f"container_cpu_usage_seconds_total{lab} {v!r} {m}")
    for pod in PODS:  # pod-level cgroup: the sum of its containers
        lab = labels(namespace="nab", pod=pod, container="")
        for m, v in zip(minutes, per_pod):
            w(f"container_cpu_usage_seconds_total{lab} {v!r} {m}")
    for ns, pod, cores in [("nab", WORKER_POD, 0.45), ("other", OTHER_POD, 0.2)]:
        lab = labels(namespace=ns, pod=pod, container="app")
        for i, m in enumerate(minutes):
            w(f"container_cpu_usage_seconds_total{lab} {cores * 60.0 * i!r} {m}")

    w("# HELP kube_pod_container_resource_requests Resource requests of a container.")
    w("# TYPE kube_pod_container_resource_requests gauge")
    for ns, pod, req in [("nab", PODS[0], REQUEST_CORES), ("nab", PODS[1], REQUEST_CORES),
                         ("nab", WORKER_POD, 0.5), ("other", OTHER_POD, 1.0)]:
        lab = labels(namespace=ns, pod=pod, container="app", resource="cpu", unit="core")
        for t, _ in series:
            w(f"kube_pod_container_resource_requests{lab} {req!r} {t}")

    desired = [max(1, math.ceil(u / 25.0)) for _, u in series]
    current = [desired[0]] + desired[:-1]
    for family, values in [
        ("kube_horizontalpodautoscaler_status_desired_replicas", desired),
        ("kube_horizontalpodautoscaler_status_current_replicas", current),
    ]:
        w(f"# HELP {family} HPA replicas.")
        w(f"# TYPE {family} gauge")
        for ns, vals in [("nab", values), ("other", [9] * len(values))]:
            lab = labels(namespace=ns, horizontalpodautoscaler="checkout")
            for (t, _), v in zip(series, vals):
                w(f"{family}{lab} {v} {t}")
    w("# HELP kube_deployment_status_replicas Replicas of a Deployment.")
    w("# TYPE kube_deployment_status_replicas gauge")
    lab = labels(namespace="nab", deployment="checkout")
    for (t, _), v in zip(series, current):
        w(f"kube_deployment_status_replicas{lab} {v} {t}")
    w("# EOF")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
