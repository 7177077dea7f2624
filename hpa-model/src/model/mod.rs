//! The HPA controller model: per-metric replica proposals ([`replica`]), behavior
//! normalization and the scale-event history ([`behavior`]), and one full reconcile
//! ([`controller`]).
//!
//! The model is pure: no clock, no IO. Every function takes "now" explicitly, so a
//! replay is deterministic.

pub mod behavior;
pub mod controller;
pub mod replica;

pub use behavior::{
    Behavior, LimitReason, PolicyType, ScaleEvent, ScalingHistory, ScalingPolicy, ScalingRules,
    SelectPolicy, SlidingRecommendations,
};
pub use controller::{
    ControllerConfig, HorizontalController, HpaSpec, MetricReading, MetricSource, MetricSpec,
    MetricTarget, ReconcileInput, Reconciliation,
};
pub use replica::{
    MetricSample, PodPhase, PodReading, PodRun, PodState, PodTiming, ReplicaCalcError, Tolerances,
};
