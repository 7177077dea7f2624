//! Kubernetes Events about a recommendation and its autoscaler (create,
//! apply, verify, rollback, failure). Best effort: a failed Event never
//! fails the action it reports. The first Event refused by RBAC (403) is
//! logged as a warning naming the grant; other failures at debug level.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

use crate::crd::ScalingRecommendation;

/// Name of the reporting controller in Events.
pub const REPORTING_CONTROLLER: &str = "stepscale-operator";

/// Event reasons (PascalCase, as Kubernetes expects).
pub mod reason {
    /// A recommendation was created.
    pub const CREATED: &str = "RecommendationCreated";
    /// The change was applied.
    pub const APPLIED: &str = "Applied";
    /// The apply failed.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Approved but not licensed.
    pub const BLOCKED: &str = "Blocked";
    /// Probation passed.
    pub const VERIFIED: &str = "Verified";
    /// Degradation: the previous config was restored.
    pub const ROLLED_BACK: &str = "RolledBack";
    /// Someone else changed the autoscaler after our apply.
    pub const DRIFTED: &str = "Drifted";
    /// The user asked to retry a failed recommendation.
    pub const RETRIED: &str = "Retried";
    /// A predictive schedule window started: the floor went up.
    pub const SCHEDULE_RAISED: &str = "ScheduleFloorRaised";
    /// A predictive schedule window ended: the floor went back to baseline.
    pub const SCHEDULE_RESTORED: &str = "ScheduleFloorRestored";
    /// An autoscaler could not be analyzed: its spec is unreadable or over
    /// an input limit (the note names the field and the limit).
    pub const SKIPPED: &str = "AutoscalerSkipped";
    /// An analyzed autoscaler has nothing to propose or report, so it has
    /// no recommendation: the note says why (Normal).
    pub const NOT_RECOMMENDED: &str = "NoRecommendation";
    /// An autoscaler is not analyzed yet: its history is too short (Normal).
    pub const NOT_ANALYZED: &str = "WaitingForHistory";
    /// A rule ConfigMap was admitted (the note names the rule, its version
    /// and signer).
    pub const RULE_ADMITTED: &str = "RuleAdmitted";
    /// A rule ConfigMap was rejected (the note gives the reason and the fix).
    pub const RULE_REJECTED: &str = "RuleRejected";
}

/// The warning logged when RBAC refuses an Event.
pub const LOG_EVENTS_FORBIDDEN: &str =
    "cannot publish Events: forbidden; grant create and patch on events.k8s.io events in the object's namespace (the chart does); the operator goes on without them";

/// Publishes Events; a disabled notifier (tests, no client) does nothing.
pub struct Notifier {
    recorder: Option<Recorder>,
    /// A refusal by RBAC was already logged as a warning.
    warned_forbidden: AtomicBool,
    /// The last reason without figures told per autoscaler (namespace,
    /// name) by [`Notifier::explain_autoscaler`].
    told: Mutex<HashMap<(String, String), String>>,
}

/// `note` with every run of digits (and the decimal points between them)
/// replaced by `#`: what is left is the reason, not its figures.
fn without_figures(note: &str) -> String {
    let mut out = String::with_capacity(note.len());
    let mut in_number = false;
    for c in note.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

impl Notifier {
    /// A notifier reporting as [`REPORTING_CONTROLLER`], instance `identity`.
    pub fn new(client: Client, identity: &str) -> Self {
        Notifier {
            warned_forbidden: AtomicBool::new(false),
            told: Mutex::default(),
            recorder: Some(Recorder::new(
                client,
                Reporter {
                    controller: REPORTING_CONTROLLER.into(),
                    instance: Some(identity.to_string()),
                },
            )),
        }
    }

    /// A notifier that publishes nothing.
    pub fn disabled() -> Self {
        Notifier {
            recorder: None,
            warned_forbidden: AtomicBool::new(false),
            told: Mutex::default(),
        }
    }

    /// Publish one Warning Event on an autoscaler (no recommendation
    /// involved), e.g. [`reason::SKIPPED`]. The note is escaped and cut to
    /// 1000 characters.
    pub async fn warn_autoscaler(&self, autoscaler: &ObjectReference, reason: &str, note: &str) {
        self.publish(autoscaler, true, reason, note).await;
    }

    /// Publish a Normal Event on an autoscaler that has no recommendation,
    /// saying why ([`reason::NOT_RECOMMENDED`], [`reason::NOT_ANALYZED`]),
    /// once per reason: a note that differs from the last one sent for this
    /// autoscaler only in its figures is not sent again, so a steady reason
    /// costs one Event, not one a tick.
    pub async fn explain_autoscaler(&self, autoscaler: &ObjectReference, reason: &str, note: &str) {
        let key = (
            autoscaler.namespace.clone().unwrap_or_default(),
            autoscaler.name.clone().unwrap_or_default(),
        );
        let gist = format!("{reason}: {}", without_figures(note));
        {
            let Ok(mut told) = self.told.lock() else {
                return;
            };
            if told.get(&key) == Some(&gist) {
                return;
            }
            told.insert(key, gist);
        }
        self.publish(autoscaler, false, reason, note).await;
    }

    /// Forget what was told about autoscalers not in `present` (namespace,
    /// name): the memory stays bounded by the autoscalers that exist, and
    /// one that comes back is told again.
    pub fn keep_only(&self, present: &std::collections::HashSet<(String, String)>) {
        if let Ok(mut told) = self.told.lock() {
            told.retain(|key, _| present.contains(key));
        }
    }

    /// How many autoscalers have a reason on record.
    #[cfg(test)]
    fn told_len(&self) -> usize {
        self.told.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Publish one Event on any object (e.g. a rule ConfigMap:
    /// [`reason::RULE_ADMITTED`], [`reason::RULE_REJECTED`]). The note is
    /// escaped and cut to 1000 characters.
    pub async fn publish(&self, object: &ObjectReference, warning: bool, reason: &str, note: &str) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(stepscale_hpa::limits::printable(note, 1000)),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, object).await {
            self.failed(reason, "", &e);
        }
    }

    /// Publish one Event on the recommendation and, if given, one on the
    /// autoscaler. `warning` selects the Warning type.
    pub async fn notify(
        &self,
        rec: &ScalingRecommendation,
        autoscaler: Option<ObjectReference>,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        // Events carry at most 1 kB of note.
        let note: String = note.chars().take(1000).collect();
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(note),
            action: reason.to_string(),
            secondary: None,
        };
        let rec_ref = rec.object_ref(&());
        if let Err(e) = recorder.publish(&event, &rec_ref).await {
            self.failed(reason, " on the recommendation", &e);
        }
        if let Some(target) = autoscaler {
            let event = Event {
                secondary: Some(rec_ref),
                ..event
            };
            if let Err(e) = recorder.publish(&event, &target).await {
                self.failed(reason, " on the autoscaler", &e);
            }
        }
    }

    /// Log a failed Event: the first refusal by RBAC as a warning, the
    /// rest at debug level.
    fn failed(&self, reason: &str, on: &str, e: &kube::Error) {
        let forbidden = matches!(e, kube::Error::Api(s) if s.code == 403);
        if forbidden && !self.warned_forbidden.swap(true, Ordering::Relaxed) {
            tracing::warn!(reason, "{LOG_EVENTS_FORBIDDEN}: {e}");
        } else {
            tracing::debug!(reason, "publishing an Event{on} failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{without_figures, Notifier};

    #[test]
    fn reasons_of_autoscalers_that_are_gone_are_forgotten() {
        let n = Notifier::disabled();
        let obj = |name: &str| k8s_openapi::api::core::v1::ObjectReference {
            namespace: Some("shop".into()),
            name: Some(name.into()),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            n.explain_autoscaler(&obj("a"), "NotAnalyzed", "waiting for 3 days")
                .await;
            n.explain_autoscaler(&obj("b"), "NotAnalyzed", "waiting for 3 days")
                .await;
        });
        assert_eq!(n.told_len(), 2);
        n.keep_only(
            &[("shop".to_string(), "a".to_string())]
                .into_iter()
                .collect(),
        );
        assert_eq!(n.told_len(), 1);
    }

    #[test]
    fn a_reason_is_compared_without_its_figures() {
        let a = "no change proposed: the saving (1.2 %, 3.4 replica-hours/day) is below 3 %";
        let b = "no change proposed: the saving (0.9 %, 27 replica-hours/day) is below 3 %";
        assert_eq!(without_figures(a), without_figures(b));
        assert_eq!(
            without_figures(a),
            "no change proposed: the saving (# %, # replica-hours/day) is below # %"
        );
        assert_ne!(
            without_figures(a),
            without_figures("no change proposed: fewer than 3 days of history")
        );
    }
}
