#!/usr/bin/env python3
"""Write the fleet benchmark's Prometheus fixture: N autoscalers (HPA and
Deployment wK, K = 0 … N-1, in namespace ss-fleet-prom-<K div 100>), each
with a week ending now (rounded down to 5 minutes) in the metric names the
operator's default PromQL reads (cAdvisor and kube-state-metrics):

  container_cpu_usage_seconds_total{namespace, pod, container}     counter, every 150 s
  kube_pod_container_resource_requests{namespace, pod, container, resource="cpu"}
  kube_horizontalpodautoscaler_status_desired_replicas{namespace, horizontalpodautoscaler}
  kube_horizontalpodautoscaler_status_current_replicas{namespace, horizontalpodautoscaler}

The gauges are at 5 minutes. One pod series per workload (wK-5f4d8c9b7-k2x9q)
carries its pods' summed usage and summed request (0.5 core a pod): the
default query sums both over the workload's pods, so the utilization is the
same. The counter is sampled every 150 s, so that `rate(…[5m])` has two
samples in each window.

CPU utilization is a real NAB series, as the in-process history of
tests/benches/fleet.rs picks it: series K mod 6, starting K div 6 mod 8
half-days in. Replicas are what an HPA (4..20, 60 % target) would ask for
that utilization on 4 pods; current replicas follow desired one step late.
The namespace names and the 100 autoscalers a namespace are those of
tests/benches/fleet.rs in its Prometheus mode.

Usage: fleet_openmetrics.py SHARED_DATA N OUT.om
"""
import csv
import math
import sys
import time

SERIES = [
    "ec2_cpu_utilization_5f5533",
    "ec2_cpu_utilization_24ae8d",
    "ec2_cpu_utilization_77c1ca",
    "ec2_cpu_utilization_53ea38",
    "ec2_cpu_utilization_ac20cd",
    "rds_cpu_utilization_cc0c53",
]
WEEK = 2016
STEP = 300
COUNTER_STEP = 150
PER_NAMESPACE = 100
NAMESPACE_PREFIX = "ss-fleet-prom-"
REQUEST_CORES = 0.5


def main():
    data, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    series = []
    for name in SERIES:
        with open(f"{data}/traces/nab/{name}.csv", newline="") as f:
            series.append([float(r["value"]) for r in csv.DictReader(f)])
    end = int(time.time()) // STEP * STEP
    start = end - (WEEK - 1) * STEP
    workloads = []
    for k in range(n):
        s = series[k % len(series)]
        offset = (k // len(series)) % 8 * 144
        cpu = s[offset:offset + WEEK]
        desired = [min(20, max(4, math.ceil(4 * c / 60))) for c in cpu]
        current = [desired[i - 1] if i else desired[0] for i in range(WEEK)]
        ns = f"{NAMESPACE_PREFIX}{k // PER_NAMESPACE}"
        workloads.append((f"w{k}", ns, cpu, desired, current))
    samples = 0
    with open(out, "w") as f:
        f.write("# TYPE container_cpu_usage_seconds_total counter\n")
        for name, ns, cpu, _, current in workloads:
            label = (f'container_cpu_usage_seconds_total{{namespace="{ns}",'
                     f'pod="{name}-5f4d8c9b7-k2x9q",container="app"}} ')
            # CPU seconds used: utilization × the pods' request, summed
            # over each 150 s; the first sample is the counter's start.
            total = 0.0
            lines = []
            for j in range((WEEK - 1) * STEP // COUNTER_STEP + 1):
                t = start + j * COUNTER_STEP
                if j:
                    i = (t - start - 1) // STEP + 1
                    i = min(i, WEEK - 1)
                    total += cpu[i] / 100 * current[i] * REQUEST_CORES * COUNTER_STEP
                lines.append(f"{label}{total:.3f} {t}\n")
            f.write("".join(lines))
            samples += len(lines)
        for family, labels, pick in [
            ("kube_pod_container_resource_requests",
             lambda name, ns: f'namespace="{ns}",pod="{name}-5f4d8c9b7-k2x9q",container="app",resource="cpu"',
             lambda w, i: f"{w[4][i] * REQUEST_CORES:g}"),
            ("kube_horizontalpodautoscaler_status_desired_replicas",
             lambda name, ns: f'namespace="{ns}",horizontalpodautoscaler="{name}"',
             lambda w, i: str(w[3][i])),
            ("kube_horizontalpodautoscaler_status_current_replicas",
             lambda name, ns: f'namespace="{ns}",horizontalpodautoscaler="{name}"',
             lambda w, i: str(w[4][i])),
        ]:
            f.write(f"# TYPE {family} gauge\n")
            for w in workloads:
                label = f"{family}{{{labels(w[0], w[1])}}} "
                f.write("".join(
                    f"{label}{pick(w, i)} {start + i * STEP}\n" for i in range(WEEK)
                ))
                samples += WEEK
        f.write("# EOF\n")
    print(f"fleet_openmetrics: {n} autoscalers, {samples} samples, {start}..{end}", file=sys.stderr)


if __name__ == "__main__":
    main()
