//! The lifecycle of a ScalingRecommendation in one type: [`Phase`] and the
//! pure decision of what to do next ([`Phase::next_action`],
//! [`Phase::after_probation`]). No other module matches on phases; they ask
//! the methods here.
//!
//! ```text
//!            approved, licensed            probation over, healthy
//!  pending ─────────────────────▶ applied ─────────────────────────▶ verified
//!     │  ▲                          │  │
//!     │  │ license allows           │  └─ probation over, degraded ──▶ rolledBack
//!     │  │                          └──── someone else changed it ───▶ degraded
//!     │  └────── blocked ◀─ approved, unlicensed
//!     └─ target gone / patch rejected ─▶ failed ── annotation stepscale.io/retry ─▶ pending
//! ```

use serde::{Deserialize, Serialize};

use crate::license::LicenseState;

/// Where a recommendation is in its lifecycle (`status.phase`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Waiting for approval (or for the operator to act on it).
    #[default]
    Pending,
    /// Applied to the live autoscaler and on probation.
    Applied,
    /// Probation passed: the change stays.
    Verified,
    /// Probation showed degradation: the previous config was restored.
    RolledBack,
    /// Someone else changed the autoscaler after our apply; the operator
    /// left their change alone.
    Degraded,
    /// Approved, but the license does not allow apply (analysis-only mode).
    Blocked,
    /// The apply could not be done (target gone, patch rejected). Left only
    /// through the `stepscale.io/retry: "true"` annotation.
    Failed,
}

/// Every phase, for metrics that report a count per phase.
pub const ALL_PHASES: [Phase; 7] = [
    Phase::Pending,
    Phase::Applied,
    Phase::Verified,
    Phase::RolledBack,
    Phase::Degraded,
    Phase::Blocked,
    Phase::Failed,
];

/// What the operator knows about one recommendation when it decides.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// `spec.approved`.
    pub approved: bool,
    /// The annotation `stepscale.io/retry: "true"` is set.
    pub retry_requested: bool,
    /// The proposal has no field to change.
    pub proposal_is_empty: bool,
    /// The license state.
    pub license: &'a LicenseState,
    /// Now, Unix seconds.
    pub now: i64,
    /// End of probation, Unix seconds (set once applied).
    pub probation_until: Option<i64>,
    /// The first autoscaler field that differs from what the operator
    /// applied, if any (only looked at while applied).
    pub drifted_field: Option<String>,
}

/// What to do with one recommendation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do now.
    Wait,
    /// Strip the retry annotation and start over from pending.
    Retry,
    /// Mark it blocked, with this detail.
    Block {
        /// Why, for `status.detail`.
        detail: String,
    },
    /// Save the previous config, then patch the autoscaler.
    Apply,
    /// Someone else changed this field after our apply: mark degraded, do
    /// not overwrite.
    ReportDrift {
        /// The field, e.g. `spec.minReplicas`.
        field: String,
    },
    /// Probation is over: judge health.
    Verify,
    /// Health was fine: mark verified.
    MarkVerified {
        /// What was judged, for `status.detail`.
        detail: String,
    },
    /// Health was bad: restore the saved config and mark rolled back.
    Rollback {
        /// Why, for `status.detail`.
        reason: String,
    },
}

/// Health during probation, as judged by [`crate::lifecycle::verify::judge`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within the documented limits.
    Healthy {
        /// What was measured.
        summary: String,
    },
    /// Outside them.
    Degraded {
        /// Which limit, with the numbers.
        reason: String,
    },
    /// Too few samples to say.
    Inconclusive {
        /// Why.
        reason: String,
    },
}

impl Phase {
    /// The name as it appears in `status.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Applied => "applied",
            Phase::Verified => "verified",
            Phase::RolledBack => "rolledBack",
            Phase::Degraded => "degraded",
            Phase::Blocked => "blocked",
            Phase::Failed => "failed",
        }
    }

    /// True when an approved recommendation in this phase may be applied
    /// (pending, or blocked and waiting for a license).
    pub fn may_apply(self) -> bool {
        matches!(self, Phase::Pending | Phase::Blocked)
    }

    /// True while our change is live and on probation: the operator owns
    /// the outcome and re-analysis must not replace the proposal.
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Applied)
    }

    /// True when the lifecycle has ended (verified, rolled back, degraded,
    /// failed): nothing more happens without a new proposal or, for failed,
    /// the retry annotation.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Verified | Phase::RolledBack | Phase::Degraded | Phase::Failed
        )
    }

    /// True when re-analysis may replace the proposal (which resets
    /// `approved`): not while applied, and not when failed (only the retry
    /// annotation leaves failed).
    pub fn accepts_new_proposal(self) -> bool {
        !self.is_active() && self != Phase::Failed
    }

    /// True when re-analysis may refresh the proposal in place even though
    /// it did not change (pending or blocked: nothing was applied yet).
    pub fn is_open(self) -> bool {
        self.may_apply()
    }

    /// True when the phase records a write to the autoscaler that the
    /// operator made (so the saved previous config must be kept).
    pub fn has_written(self) -> bool {
        matches!(
            self,
            Phase::Applied | Phase::Verified | Phase::RolledBack | Phase::Degraded
        )
    }

    /// Decide what to do next. Pure: the caller gathers the observation
    /// (and, for [`Action::Verify`], the health) and carries it out.
    pub fn next_action(self, o: &Observation<'_>) -> Action {
        match self {
            Phase::Failed if o.retry_requested => Action::Retry,
            Phase::Failed => Action::Wait,
            Phase::Pending | Phase::Blocked => {
                if !o.approved || o.proposal_is_empty {
                    Action::Wait
                } else if let LicenseState::Unlicensed { reason } = o.license {
                    let detail = format!(
                        "approved, but the operator runs analysis-only: {reason}; install a valid license to apply"
                    );
                    Action::Block { detail }
                } else {
                    Action::Apply
                }
            }
            Phase::Applied => {
                if let Some(field) = &o.drifted_field {
                    Action::ReportDrift {
                        field: field.clone(),
                    }
                } else if o.probation_until.is_some_and(|until| o.now < until) {
                    Action::Wait
                } else {
                    Action::Verify
                }
            }
            Phase::Verified | Phase::RolledBack | Phase::Degraded => Action::Wait,
        }
    }

    /// What to do with the health verdict at the end of probation. An
    /// inconclusive verdict waits for data for up to one more probation
    /// window, then rolls back: the change could not be shown safe.
    pub fn after_probation(
        self,
        verdict: Verdict,
        now: i64,
        probation_until: i64,
        window_seconds: i64,
    ) -> Action {
        if !self.is_active() {
            return Action::Wait;
        }
        match verdict {
            Verdict::Healthy { summary } => Action::MarkVerified { detail: summary },
            Verdict::Degraded { reason } => Action::Rollback { reason },
            Verdict::Inconclusive { reason } if now >= probation_until + window_seconds => {
                Action::Rollback {
                    reason: format!("{reason} for a whole extra probation window; restored the previous config to be safe"),
                }
            }
            Verdict::Inconclusive { .. } => Action::Wait,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licensed() -> LicenseState {
        LicenseState::Licensed
    }

    fn obs(license: &LicenseState) -> Observation<'_> {
        Observation {
            approved: true,
            retry_requested: false,
            proposal_is_empty: false,
            license,
            now: 1_000,
            probation_until: None,
            drifted_field: None,
        }
    }

    #[test]
    fn pending_waits_for_approval() {
        let l = licensed();
        let o = Observation {
            approved: false,
            ..obs(&l)
        };
        assert_eq!(Phase::Pending.next_action(&o), Action::Wait);
    }

    #[test]
    fn approved_and_licensed_applies() {
        let l = licensed();
        assert_eq!(Phase::Pending.next_action(&obs(&l)), Action::Apply);
        let g = LicenseState::Grace { days_left: 3 };
        assert_eq!(Phase::Pending.next_action(&obs(&g)), Action::Apply);
    }

    #[test]
    fn approved_but_unlicensed_is_blocked_with_the_reason() {
        let l = LicenseState::Unlicensed {
            reason: "no license file".into(),
        };
        match Phase::Pending.next_action(&obs(&l)) {
            Action::Block { detail } => assert!(detail.contains("no license file"), "{detail}"),
            other => panic!("expected Block, got {other:?}"),
        }
    }

    #[test]
    fn blocked_applies_once_the_license_allows() {
        let l = licensed();
        assert_eq!(Phase::Blocked.next_action(&obs(&l)), Action::Apply);
    }

    #[test]
    fn an_empty_proposal_is_never_applied() {
        let l = licensed();
        let o = Observation {
            proposal_is_empty: true,
            ..obs(&l)
        };
        assert_eq!(Phase::Pending.next_action(&o), Action::Wait);
    }

    #[test]
    fn failed_is_left_only_through_the_retry_annotation() {
        let l = licensed();
        assert_eq!(Phase::Failed.next_action(&obs(&l)), Action::Wait);
        let o = Observation {
            retry_requested: true,
            ..obs(&l)
        };
        assert_eq!(Phase::Failed.next_action(&o), Action::Retry);
        // the annotation means nothing in other phases
        assert_eq!(Phase::Verified.next_action(&o), Action::Wait);
    }

    #[test]
    fn applied_waits_for_the_end_of_probation_then_verifies() {
        let l = licensed();
        let o = Observation {
            probation_until: Some(2_000),
            ..obs(&l)
        };
        assert_eq!(Phase::Applied.next_action(&o), Action::Wait);
        let o = Observation { now: 2_000, ..o };
        assert_eq!(Phase::Applied.next_action(&o), Action::Verify);
    }

    #[test]
    fn drift_wins_over_verification() {
        let l = licensed();
        let o = Observation {
            now: 5_000,
            probation_until: Some(2_000),
            drifted_field: Some("spec.minReplicas".into()),
            ..obs(&l)
        };
        assert_eq!(
            Phase::Applied.next_action(&o),
            Action::ReportDrift {
                field: "spec.minReplicas".into()
            }
        );
    }

    #[test]
    fn terminal_phases_do_nothing() {
        let l = licensed();
        for p in [Phase::Verified, Phase::RolledBack, Phase::Degraded] {
            assert!(p.is_terminal());
            assert_eq!(p.next_action(&obs(&l)), Action::Wait, "{p}");
        }
    }

    #[test]
    fn verdicts_map_to_verify_or_rollback() {
        let healthy = Verdict::Healthy {
            summary: "ok".into(),
        };
        assert_eq!(
            Phase::Applied.after_probation(healthy, 10, 10, 100),
            Action::MarkVerified {
                detail: "ok".into()
            }
        );
        let bad = Verdict::Degraded {
            reason: "cpu".into(),
        };
        assert_eq!(
            Phase::Applied.after_probation(bad, 10, 10, 100),
            Action::Rollback {
                reason: "cpu".into()
            }
        );
        let none = Verdict::Inconclusive {
            reason: "no samples".into(),
        };
        assert_eq!(
            Phase::Applied.after_probation(none.clone(), 50, 10, 100),
            Action::Wait
        );
        assert!(matches!(
            Phase::Applied.after_probation(none, 110, 10, 100),
            Action::Rollback { .. }
        ));
    }

    #[test]
    fn phase_predicates() {
        assert!(Phase::Pending.may_apply() && Phase::Blocked.may_apply());
        assert!(!Phase::Failed.may_apply() && !Phase::Applied.may_apply());
        assert!(Phase::Applied.is_active());
        assert!(!Phase::Applied.accepts_new_proposal());
        assert!(!Phase::Failed.accepts_new_proposal());
        assert!(Phase::Verified.accepts_new_proposal());
        assert_eq!(
            serde_json::to_string(&Phase::RolledBack).expect("serializes"),
            "\"rolledBack\""
        );
    }
}
