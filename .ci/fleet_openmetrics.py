#!/usr/bin/env python3
"""Write the fleet benchmark's Prometheus fixture: N autoscalers (w0 … wN-1),
each with a week of 5-minute samples ending now (rounded down to 5 minutes)
of three gauges the benchmark's query overrides read:

  stepscale_fleet_cpu_utilization{autoscaler="wK"}   percent of request
  stepscale_fleet_desired_replicas{autoscaler="wK"}
  stepscale_fleet_current_replicas{autoscaler="wK"}

CPU is a real NAB series, as the in-process history of tests/benches/fleet.rs
picks it: series K mod 6, starting K div 6 mod 8 half-days in. Replicas are
what an HPA (4..20, 60 % target) would ask for that utilization on 4 pods.

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


def main():
    data, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    series = []
    for name in SERIES:
        with open(f"{data}/traces/nab/{name}.csv", newline="") as f:
            series.append([float(r["value"]) for r in csv.DictReader(f)])
    end = int(time.time()) // STEP * STEP
    start = end - (WEEK - 1) * STEP
    weeks = []
    for k in range(n):
        s = series[k % len(series)]
        offset = (k // len(series)) % 8 * 144
        cpu = s[offset:offset + WEEK]
        replicas = [min(20, max(4, math.ceil(4 * c / 60))) for c in cpu]
        weeks.append((cpu, replicas))
    with open(out, "w") as f:
        for family, pick in [
            ("stepscale_fleet_cpu_utilization", lambda w, i: f"{w[0][i]:.3f}"),
            ("stepscale_fleet_desired_replicas", lambda w, i: str(w[1][i])),
            ("stepscale_fleet_current_replicas", lambda w, i: str(w[1][i - 1] if i else w[1][0])),
        ]:
            f.write(f"# TYPE {family} gauge\n")
            for k, w in enumerate(weeks):
                label = f'{family}{{autoscaler="w{k}"}} '
                f.write("".join(
                    f"{label}{pick(w, i)} {start + i * STEP}\n" for i in range(len(w[0]))
                ))
        f.write("# EOF\n")
    print(f"fleet_openmetrics: {n} autoscalers, {3 * n * WEEK} samples, {start}..{end}", file=sys.stderr)


if __name__ == "__main__":
    main()
