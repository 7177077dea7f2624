//! Keep each recommendation's `status.history` (a
//! [`HistoryCheckpoint`]) in step with the HPA-status samples the operator
//! holds for its autoscaler, about once every
//! [`CHECKPOINT_EVERY_SECONDS`], and read them back when an operator
//! starts: the manual's "no state beyond the ScalingRecommendations and the
//! Lease" holds, and a restart or a failover keeps the history.
//!
//! Only autoscalers whose history came from HPA status this tick are
//! checkpointed (with Prometheus the history lives there). An autoscaler
//! without a recommendation has nowhere to keep its samples: it starts
//! afresh after a restart.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::publish::WRITE_CONCURRENCY;
use super::{write_error, Lifecycle, LifecycleError};
use crate::crd::ScalingRecommendation;
use crate::history::checkpoint::{HistoryCheckpoint, CHECKPOINT_EVERY_SECONDS};
use crate::history::source::HistorySource;
use crate::history::HistoryKey;

/// Logged (info) when an operator has read the checkpoints back.
pub const LOG_RESTORED: &str = "restored HPA-status history from recommendations";

/// What [`restore`] read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Autoscalers whose samples were put back.
    pub autoscalers: usize,
    /// Samples put back.
    pub samples: usize,
    /// Checkpoints that could not be read (each logged as a warning).
    pub unreadable: usize,
}

/// Put the samples of every readable checkpoint in `recs` back into
/// `source`; a damaged checkpoint is logged and skipped (that autoscaler
/// starts afresh), never fatal.
pub fn restore(recs: &[Arc<ScalingRecommendation>], source: &dyn HistorySource) -> Restored {
    let mut got = Restored::default();
    for rec in recs {
        let Some(checkpoint) = rec.status.as_ref().and_then(|s| s.history.as_ref()) else {
            continue;
        };
        match checkpoint.samples() {
            Ok(samples) => {
                got.autoscalers += 1;
                got.samples += samples.len();
                source.restore(&rec.history_key(), samples);
            }
            Err(e) => {
                got.unreadable += 1;
                tracing::warn!(
                    namespace = rec.metadata.namespace.as_deref().unwrap_or_default(),
                    recommendation = rec.metadata.name.as_deref().unwrap_or_default(),
                    "ignoring the saved HPA-status history: {e}; the history of this autoscaler starts afresh"
                );
            }
        }
    }
    got
}

/// The checkpoint to write for `rec` at `now` (Unix seconds), if one is
/// due: its autoscaler's history came from HPA status this tick
/// (`from_status`), the saved checkpoint is missing, unreadable in time, or
/// ends [`CHECKPOINT_EVERY_SECONDS`] or more before `now`, and the
/// operator holds at least two samples. The samples are only copied when
/// one is due.
pub fn due(
    rec: &ScalingRecommendation,
    source: &dyn HistorySource,
    from_status: &HashSet<HistoryKey>,
    now: i64,
) -> Option<HistoryCheckpoint> {
    let key = rec.history_key();
    if !from_status.contains(&key) {
        return None;
    }
    let saved = rec
        .status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .and_then(HistoryCheckpoint::to_unix_seconds);
    if saved.is_some_and(|t| now - t < CHECKPOINT_EVERY_SECONDS) {
        return None;
    }
    let samples = source.samples(&key);
    if samples.len() < 2 {
        return None;
    }
    HistoryCheckpoint::of(&samples)
}

impl Lifecycle<'_> {
    /// Write the due checkpoints (see [`due`]) into the recommendations'
    /// status, [`WRITE_CONCURRENCY`] at a time. Returns how many were
    /// written; a failed write is logged and retried next tick.
    pub async fn checkpoint_histories(
        &self,
        recs: &[Arc<ScalingRecommendation>],
        source: &dyn HistorySource,
        from_status: &HashSet<HistoryKey>,
    ) -> usize {
        let writes: Vec<_> = recs
            .iter()
            .filter_map(|rec| due(rec, source, from_status, self.now).map(|c| (rec, c)))
            .map(|(rec, c)| async move {
                let r = self.write_checkpoint(rec, &c).await;
                if let Err(e) = &r {
                    self.metrics.error(e.metric_label());
                    tracing::warn!(
                        namespace = rec.metadata.namespace.as_deref().unwrap_or_default(),
                        recommendation = rec.metadata.name.as_deref().unwrap_or_default(),
                        "saving the HPA-status history stopped: {e}"
                    );
                }
                r.is_ok()
            })
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await
    }

    /// Merge-patch `status.history` only: no other field is touched, so
    /// no resourceVersion is needed.
    async fn write_checkpoint(
        &self,
        rec: &ScalingRecommendation,
        checkpoint: &HistoryCheckpoint,
    ) -> Result<(), LifecycleError> {
        let name = rec.metadata.name.clone().unwrap_or_default();
        let ns = rec.metadata.namespace.clone().unwrap_or_default();
        self.gate.check()?;
        let api: Api<ScalingRecommendation> = Api::namespaced(self.reader.client().clone(), &ns);
        let written = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"history": checkpoint}})),
            )
            .await
            .map_err(|e| {
                write_error(
                    format!("ScalingRecommendation {ns}/{name} status.history"),
                    e,
                )
            })?;
        self.gate.wrote(&written);
        Ok(())
    }
}
