//! The cluster side of custom rules: list the rule ConfigMaps, hand them to
//! the [`RuleLoader`], and make every decision visible — one log line, an
//! Event on the ConfigMap (from the leader), and metrics.

use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use kube::api::ListParams;
use kube::{Api, Client};

use super::loader::{Decision, RuleLoader};
use crate::analysis::Analyzer;
use crate::lifecycle::events::{reason, Notifier};
use crate::rules::RulesConfig;
use crate::telemetry::metrics::Metrics;

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Rules admitted (new or changed ConfigMaps).
    pub admitted: usize,
    /// ConfigMaps rejected.
    pub rejected: usize,
    /// Rules unloaded (deleted ConfigMaps).
    pub unloaded: usize,
    /// Namespaces whose ConfigMaps could not be listed.
    pub unlisted: usize,
}

/// The ConfigMaps matching the selector in every rules namespace, and how
/// many namespaces could not be listed (logged with the fix).
async fn list(client: &Client, config: &RulesConfig) -> (Vec<ConfigMap>, Vec<String>) {
    let mut out = Vec::new();
    let mut failed = Vec::new();
    let params = ListParams::default().labels(&config.selector);
    for ns in &config.namespaces {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        match api.list(&params).await {
            Ok(list) => out.extend(list.items),
            Err(e) => {
                tracing::warn!(namespace = %ns, selector = %config.selector, "cannot list rule ConfigMaps; custom rules from this namespace keep their last state (grant list/watch on configmaps here): {}", crate::cluster::api_message(&e));
                failed.push(ns.clone());
            }
        }
    }
    (out, failed)
}

fn object_ref(cm: &ConfigMap) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: cm.metadata.name.clone(),
        namespace: cm.metadata.namespace.clone(),
        uid: cm.metadata.uid.clone(),
        resource_version: cm.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// List, admit, unload, report. `events` publishes Events (the leader).
/// A namespace that cannot be listed leaves its rules as they were.
pub async fn sync(
    client: &Client,
    config: &RulesConfig,
    loader: &RuleLoader,
    analyzer: &Analyzer,
    notifier: &Notifier,
    metrics: &Metrics,
    events: bool,
) -> SyncReport {
    let (configmaps, failed) = list(client, config).await;
    let mut report = SyncReport {
        unlisted: failed.len(),
        ..SyncReport::default()
    };
    if !failed.is_empty() {
        metrics.error("rule_configmap_list");
        // Keep what was loaded from a namespace we could not read now.
        return report;
    }
    let decisions = loader.sync(analyzer, &configmaps);
    let find = |key: &(String, String)| {
        configmaps.iter().find(|cm| {
            cm.metadata.namespace.as_deref() == Some(key.0.as_str())
                && cm.metadata.name.as_deref() == Some(key.1.as_str())
        })
    };
    for d in decisions {
        match d {
            Decision::Admitted {
                configmap,
                admitted,
                replaced,
            } => {
                report.admitted += 1;
                let (r, s) = (&admitted.rule, &admitted.signed);
                let note = match &replaced {
                    Some(old) => format!(
                        "admitted rule {} {} ({}), signed by key {}, replacing {old}; used from the next analysis",
                        r.id, r.version, s.kind, s.signer_key_id
                    ),
                    None => format!(
                        "admitted rule {} {} ({}), signed by key {}; used from the next analysis",
                        r.id, r.version, s.kind, s.signer_key_id
                    ),
                };
                tracing::info!(configmap = %format!("{}/{}", configmap.0, configmap.1), rule = %r.id, version = %r.version, signer = %s.signer_key_id, "admitted rule");
                if let (true, Some(cm)) = (events, find(&configmap)) {
                    notifier
                        .publish(&object_ref(cm), false, reason::RULE_ADMITTED, &note)
                        .await;
                }
            }
            Decision::Rejected {
                configmap,
                rejection,
                kept,
            } => {
                report.rejected += 1;
                metrics.rule_rejected(rejection.reason());
                let kept_text = match &kept {
                    Some(k) => format!(" The last admitted version ({k}) keeps running."),
                    None => String::new(),
                };
                tracing::warn!(configmap = %format!("{}/{}", configmap.0, configmap.1), reason = rejection.reason(), kept = kept.as_deref().unwrap_or("none"), "rejected rule: {rejection}");
                if let (true, Some(cm)) = (events, find(&configmap)) {
                    let note =
                        format!("rejected [{}]: {rejection}.{kept_text}", rejection.reason());
                    notifier
                        .publish(&object_ref(cm), true, reason::RULE_REJECTED, &note)
                        .await;
                }
            }
            Decision::Unloaded { configmap, rule } => {
                report.unloaded += 1;
                tracing::info!(configmap = %format!("{}/{}", configmap.0, configmap.1), rule = %rule, "unloaded rule: its ConfigMap was deleted");
            }
        }
    }
    let active = analyzer.rules();
    let builtin = active
        .iter()
        .filter(|r| r.source == crate::analysis::RuleSource::Builtin)
        .count();
    metrics.set_rules_loaded(builtin, active.len() - builtin);
    report
}
