//! The HPA controller model: per-metric replica proposals ([`replica`]), behavior
//! normalization and the scale-event history ([`behavior`]), one full reconcile
//! ([`controller`]), and the log of where a replay's rate limits could act
//! ([`rate_decisions`]).
//!
//! The model is pure: no clock, no IO. Every function takes "now" explicitly, so a
//! replay is deterministic.

pub mod behavior;
pub mod controller;
pub mod rate_decisions;
pub mod replica;

pub use behavior::{
    Behavior, LimitReason, PolicyType, ScaleEvent, ScalingHistory, ScalingPolicy, ScalingRules,
    SelectPolicy, SlidingRecommendations,
};
pub use controller::{
    ControllerConfig, HorizontalController, HpaSpec, MetricReading, MetricSource, MetricSpec,
    MetricTarget, ReconcileInput, Reconciliation,
};
pub use rate_decisions::RateDecisions;
pub use replica::{
    MetricSample, PodPhase, PodReading, PodRun, PodState, PodTiming, ReplicaCalcError, Tolerances,
};
