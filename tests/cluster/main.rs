//! Cluster integration tests: the operator against a real kube-apiserver
//! v1.20.2 (+ controller manager) from `KUBECONFIG` — provision one with
//! `bash .ci/k8s.sh up`. Without `KUBECONFIG` each test says it was skipped
//! and why; with `CI=true` a missing cluster is a failure.
//!
//! Each test gets its own namespace and lease, and runs the operator's tick
//! in-process with metric history and probation health taken from real NAB
//! series (the test API server has no metrics API).
//!
//! Where new tests go:
//! - `lifecycle`: recommend → approve → apply → verify / roll back, retry,
//!   drift;
//! - `keda`: ScaledObjects and custom-resource scale targets;
//! - `hostile`: absurd autoscalers next to normal ones;
//! - `leader`: leader election between operator instances;
//! - `restart`: HPA-status history saved in recommendations and read back
//!   by a restarted operator or a standby that takes over;
//! - `run_loop`: the deployed loop (HTTP endpoints, watch, shutdown);
//! - `rules`: signed custom rules loaded from ConfigMaps;
//! - `schedules`: approved predictive schedules applied with an injected
//!   clock (HPA floor transitions, ScaledObject cron triggers, DST);
//! - `helm`: the chart installed, upgraded and uninstalled with real helm;
//! - `image`: the container image, checked and run with runc;
//! - `node`: the chart's Pods on a real node, with the image loaded into it;
//! - `day2`: the manual's day-2 flow from the chart's Pod on the node (real
//!   Prometheus, license Secret, approve → apply → probation), through
//!   `helm upgrade`, `helm rollback` and uninstall;
//! - `rbac`: the operator held to the chart's own RBAC (API server with RBAC
//!   authorization, a token for the chart's ServiceAccount);
//! - `llm`: the LLM pass in the tick, against a local wire-format server;
//! - `spread`: a tick over its budget analyzes part of the fleet per tick.

mod common;
mod day2;
mod helm;
mod hostile;
mod image;
mod keda;
mod leader;
mod lifecycle;
mod llm;
mod node;
mod rbac;
mod restart;
mod rules;
mod run_loop;
mod schedules;
mod spread;
mod targets;
mod watched;
