#!/usr/bin/env python3
"""Append the day-2 workloads to an OpenMetrics file that .ci/prometheus.sh
backfills: recent history for tests/cluster/node.rs, where the operator runs
as a Pod on the test node and reads Prometheus with the default PromQL.

Usage: day2_openmetrics.py DATA_DIR NAB_OM OUT.om [END_UNIX_SECONDS]

OUT.om is NAB_OM (the fixture of .ci/nab_openmetrics.py) with these series
added to its metric families. The test derives its expectations from this
description and the CSVs, never from the code under test.

- Namespace "stepscale-day2", two Deployments with their HPAs: "shop" and
  "cart", each four pods requesting 0.05 CPU cores (one pod series per
  workload carries the four pods' usage and their summed request, 0.2 core:
  the default query sums both over the workload's pods, so utilization is
  the same).
- Time: END is the current minute (or END_UNIX_SECONDS). The history covers
  the 7 days before END at a 60 s step; it is a real NAB week
  (ec2_cpu_utilization_5f5533.csv, rows 1..2016, 5-minute values, each held
  for its five minutes): CPU utilization u % of request, 38 to 62 %.
- Replicas: the HPA's desired and current replicas are 4 throughout (the
  test's HPA has minReplicas 4, maxReplicas 20, CPU target 60 %, and the
  week never passes 60 % x 1.1, so today's config holds 4 pods).
- After END, three more hours for "shop" only (what a scrape would record
  during the test's probation): the same NAB series continues (rows
  2017..2052), healthy under any target. "cart"'s series stop 30 minutes
  before END, as if its metrics stopped (Prometheus still answers for 5
  minutes after a series' last sample, so 30 keeps the test's probation, which
  starts after END, clear of them): its probation has nothing to judge, and
  the operator rolls the change back once one more probation window has
  passed.
"""

import csv
import sys
import time

NAMESPACE = "stepscale-day2"
WEEK_MINUTES = 7 * 24 * 60
AFTER_MINUTES = 3 * 60
REQUEST_CORES = 0.2  # four pods x 0.05
REPLICAS = 4
CART_STOPS_MINUTES_BEFORE_END = 30


def nab(data, name):
    with open(f"{data}/traces/nab/{name}", newline="") as f:
        return [float(r["value"]) for r in csv.DictReader(f)]


def per_minute(values, minutes):
    """Each 5-minute value held for its five minutes."""
    return [values[i // 5] for i in range(minutes)]


def labels(**kv):
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: day2_openmetrics.py DATA_DIR NAB_OM OUT.om [END_UNIX_SECONDS]")
    data, nab_om, out_path = sys.argv[1:4]
    end = int(sys.argv[4]) if len(sys.argv) == 5 else int(time.time())
    end -= end % 60
    week = nab(data, "ec2_cpu_utilization_5f5533.csv")
    history = per_minute(week[:2016], WEEK_MINUTES)
    after_shop = per_minute(week[2016:2016 + AFTER_MINUTES // 5], AFTER_MINUTES)
    # Minute m covers (t_m - 60, t_m]; the counter starts at 0 one minute
    # before the first sample.
    start = end - WEEK_MINUTES * 60
    times = [start + 60 * i for i in range(WEEK_MINUTES + AFTER_MINUTES + 1)]
    workloads = {
        "shop": ("shop-7c9d8b6f5-x4k2p", history + after_shop),
        "cart": ("cart-5b8f9d7c6-m2q7z", history[:-CART_STOPS_MINUTES_BEFORE_END]),
    }

    added = {}  # family -> lines
    for name, (pod, util) in workloads.items():
        usage, total = [0.0], 0.0
        for u in util:
            total += u / 100.0 * REQUEST_CORES * 60.0
            usage.append(total)
        lab = labels(namespace=NAMESPACE, pod=pod, container="app")
        added.setdefault("container_cpu_usage_seconds", []).extend(
            f"container_cpu_usage_seconds_total{lab} {v!r} {t}"
            for t, v in zip(times, usage))
        lab = labels(namespace=NAMESPACE, pod=pod, container="app", resource="cpu", unit="core")
        added.setdefault("kube_pod_container_resource_requests", []).extend(
            f"kube_pod_container_resource_requests{lab} {REQUEST_CORES!r} {t}"
            for t in times[1:len(usage)])
        for family in ("kube_horizontalpodautoscaler_status_desired_replicas",
                       "kube_horizontalpodautoscaler_status_current_replicas"):
            lab = labels(namespace=NAMESPACE, horizontalpodautoscaler=name)
            added.setdefault(family, []).extend(
                f"{family}{lab} {REPLICAS} {t}" for t in times[1:len(usage)])

    with open(nab_om) as f:
        lines = f.read().splitlines()
    out, family = [], None
    for line in lines:
        starts = line.split()[2] if line.startswith(("# HELP ", "# TYPE ")) else None
        if line == "# EOF" or (starts and starts != family):
            # Close the family before: its added series go at its end.
            out.extend(added.pop(family, []))
            family = starts
        if line == "# EOF":
            for fam, extra in added.items():
                out.append(f"# TYPE {fam} gauge")
                out.extend(extra)
        out.append(line)
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
