//! The operator's custom rules: which ConfigMap carries which admitted rule,
//! kept across ticks so that a change is admitted once, a rejected update
//! leaves the last admitted version running, and a deleted ConfigMap
//! unloads its rule.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ConfigMap;

use super::admission::{admit, AdmissionPolicy, Admitted, Rejection};
use super::configmap::rule_files;
use crate::analysis::{ActiveRule, Analyzer, RuleSource};

/// `(namespace, name)` of a ConfigMap.
pub type ConfigMapKey = (String, String);

/// What a sync decided about one ConfigMap.
#[derive(Debug)]
pub enum Decision {
    /// A new or changed ConfigMap's rule was admitted and is used from the
    /// next analysis.
    Admitted {
        /// The ConfigMap.
        configmap: ConfigMapKey,
        /// The rule.
        admitted: Box<Admitted>,
        /// The version it replaced, if any.
        replaced: Option<String>,
    },
    /// A new or changed ConfigMap was rejected.
    Rejected {
        /// The ConfigMap.
        configmap: ConfigMapKey,
        /// Why.
        rejection: Rejection,
        /// `id version` of the rule still running from this ConfigMap.
        kept: Option<String>,
    },
    /// A deleted ConfigMap's rule was unloaded.
    Unloaded {
        /// The ConfigMap.
        configmap: ConfigMapKey,
        /// `id version` of the unloaded rule.
        rule: String,
    },
}

#[derive(Debug)]
struct Entry {
    /// The resourceVersion last looked at.
    seen: String,
    /// The rule admitted last from this ConfigMap.
    admitted: Option<Admitted>,
}

/// Custom rules by ConfigMap.
#[derive(Debug, Default)]
pub struct RuleLoader {
    policy: AdmissionPolicy,
    entries: Mutex<BTreeMap<ConfigMapKey, Entry>>,
}

fn key_of(cm: &ConfigMap) -> ConfigMapKey {
    (
        cm.metadata.namespace.clone().unwrap_or_default(),
        cm.metadata.name.clone().unwrap_or_default(),
    )
}

fn label(a: &Admitted) -> String {
    format!("{} {}", a.rule.id, a.rule.version)
}

impl RuleLoader {
    /// A loader admitting by `policy`.
    pub fn new(policy: AdmissionPolicy) -> Self {
        RuleLoader {
            policy,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Look at the ConfigMaps that match the selector now (all of them:
    /// one missing since the last sync was deleted), admit the new and
    /// changed ones, and hand the resulting custom rules to `analyzer`.
    /// ConfigMaps whose resourceVersion did not change are not looked at
    /// again.
    pub fn sync(&self, analyzer: &Analyzer, configmaps: &[ConfigMap]) -> Vec<Decision> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut decisions = Vec::new();
        let mut present: BTreeMap<ConfigMapKey, &ConfigMap> = BTreeMap::new();
        for cm in configmaps {
            present.insert(key_of(cm), cm);
        }
        let gone: Vec<ConfigMapKey> = entries
            .keys()
            .filter(|k| !present.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(Entry {
                admitted: Some(a), ..
            }) = entries.remove(&key)
            {
                decisions.push(Decision::Unloaded {
                    configmap: key,
                    rule: label(&a),
                });
            }
        }
        for (key, cm) in present {
            let version = cm.metadata.resource_version.clone().unwrap_or_default();
            if entries
                .get(&key)
                .is_some_and(|e| !version.is_empty() && e.seen == version)
            {
                continue;
            }
            let source = RuleSource::ConfigMap {
                namespace: key.0.clone(),
                name: key.1.clone(),
            };
            let result = rule_files(cm).and_then(|(component, envelope)| {
                admit(
                    analyzer,
                    &source.to_string(),
                    component,
                    envelope,
                    &self.policy,
                )
            });
            let result = result.and_then(|a| {
                match entries.iter().find(|(k, e)| {
                    **k != key && e.admitted.as_ref().is_some_and(|o| o.rule.id == a.rule.id)
                }) {
                    Some((other, _)) => Err(Rejection::DuplicateId {
                        id: a.rule.id,
                        other: format!("configmap {}/{}", other.0, other.1),
                    }),
                    None => Ok(a),
                }
            });
            let entry = entries.entry(key.clone()).or_insert(Entry {
                seen: String::new(),
                admitted: None,
            });
            entry.seen = version;
            match result {
                Ok(a) => {
                    let replaced = entry.admitted.replace(a.clone()).map(|old| label(&old));
                    decisions.push(Decision::Admitted {
                        configmap: key,
                        admitted: Box::new(a),
                        replaced,
                    });
                }
                Err(rejection) => decisions.push(Decision::Rejected {
                    configmap: key,
                    rejection,
                    kept: entry.admitted.as_ref().map(label),
                }),
            }
        }
        if decisions
            .iter()
            .any(|d| !matches!(d, Decision::Rejected { .. }))
        {
            analyzer.set_custom_rules(
                entries
                    .iter()
                    .filter_map(|((namespace, name), e)| {
                        e.admitted.as_ref().map(|a| ActiveRule {
                            rule: a.rule.clone(),
                            source: RuleSource::ConfigMap {
                                namespace: namespace.clone(),
                                name: name.clone(),
                            },
                        })
                    })
                    .collect(),
            );
        }
        decisions
    }

    /// Number of custom rules admitted now.
    pub fn loaded(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.admitted.is_some())
            .count()
    }
}
