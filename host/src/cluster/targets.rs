//! Scale targets read ahead for one read pass: the Deployments and
//! StatefulSets a pass needs are listed once per namespace and kind, a page
//! at a time, instead of read with one GET per autoscaler. Other kinds (a
//! custom resource with a `/scale`, a ReplicaSet) are still read one by one
//! ([`ClusterReader::target_state`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use kube::api::DynamicObject;
use serde_json::Value;
use stepscale_engine::snapshot::ScaleTargetRef;

use super::{autoscaler, ClusterError, ClusterReader, TargetState};

/// Namespaces and kinds listed at once.
const LIST_CONCURRENCY: usize = 4;

/// The targets of one read pass that were listed: by namespace and kind,
/// the state of each wanted target found. A namespace and kind whose list
/// failed is absent (its targets are read one by one).
#[derive(Debug, Default)]
pub struct ListedTargets {
    found: HashMap<(String, String), HashMap<String, TargetState>>,
}

impl ListedTargets {
    /// How many lists succeeded.
    pub fn lists(&self) -> usize {
        self.found.len()
    }
}

/// True for the kinds listed ahead: apps/v1 Deployments and StatefulSets,
/// the kinds the chart lets the operator list.
fn listed_kind(target: &ScaleTargetRef) -> bool {
    target.api_version == "apps/v1" && matches!(target.kind.as_str(), "Deployment" | "StatefulSet")
}

/// What the operator reads from an apps/v1 object's content (its `spec`
/// and `status`, as [`DynamicObject::data`] holds them): its replica counts
/// (the API server serves its `/scale` from them; an omitted count is 0)
/// and its pod template's containers.
pub(super) fn state_of(obj: &Value) -> TargetState {
    let replicas = |v: &Value| Some(v.as_i64().and_then(|r| i32::try_from(r).ok()).unwrap_or(0));
    TargetState {
        spec_replicas: replicas(&obj["spec"]["replicas"]),
        status_replicas: replicas(&obj["status"]["replicas"]),
        containers: autoscaler::containers_of(obj),
    }
}

impl ClusterReader {
    /// List the Deployments and StatefulSets `wanted` names, once per
    /// namespace and kind, keeping the state of the wanted ones. A list
    /// that fails is logged and left out: its targets are then read one by
    /// one, and fail or succeed on their own.
    pub fn list_targets<'a>(
        &'a self,
        wanted: impl IntoIterator<Item = (&'a str, &'a ScaleTargetRef)>,
    ) -> impl std::future::Future<Output = ListedTargets> + Send + 'a {
        // Grouped before the future is made, which then holds only owned
        // data (so the tick's future stays `Send`).
        let mut groups: BTreeMap<(String, String), (ScaleTargetRef, HashSet<String>)> =
            BTreeMap::new();
        for (namespace, target) in wanted {
            if listed_kind(target) {
                groups
                    .entry((namespace.to_string(), target.kind.clone()))
                    .or_insert_with(|| (target.clone(), HashSet::new()))
                    .1
                    .insert(target.name.clone());
            }
        }
        async move {
            let lists: Vec<_> = groups
                .into_iter()
                .map(|(key, (example, names))| async move {
                    let found = self.list_wanted(&key.0, &example, &names).await;
                    (key, found)
                })
                .collect();
            let mut listed = ListedTargets::default();
            let mut results = futures::stream::iter(lists).buffer_unordered(LIST_CONCURRENCY);
            while let Some(((namespace, kind), found)) = results.next().await {
                match found {
                    Ok(found) => {
                        listed.found.insert((namespace, kind), found);
                    }
                    Err(e) => {
                        tracing::warn!(namespace = %namespace, kind = %kind, "listing the scale targets failed; reading each alone: {e}");
                    }
                }
            }
            listed
        }
    }

    async fn list_wanted(
        &self,
        namespace: &str,
        example: &ScaleTargetRef,
        names: &HashSet<String>,
    ) -> Result<HashMap<String, TargetState>, ClusterError> {
        let resource = self.target_resource(example).await?;
        let api = self.api(&resource, namespace);
        let what = format!("{}s in {namespace}", resource.kind);
        let mut found = HashMap::new();
        super::list_pages(&api, &what, |o: DynamicObject| {
            let Some(name) = o.metadata.name.clone() else {
                return;
            };
            if names.contains(&name) {
                found.insert(name, state_of(&o.data));
            }
        })
        .await?;
        Ok(found)
    }

    /// The target's state: from `listed` when its namespace and kind were
    /// listed (a target the list did not hold is an error naming it), else
    /// read on its own ([`ClusterReader::target_state`]).
    ///
    /// # Errors
    /// [`ClusterError::NotFound`] for a listed kind the list did not hold;
    /// else as [`ClusterReader::target_state`].
    pub async fn listed_target_state(
        &self,
        listed: &ListedTargets,
        namespace: &str,
        target: &ScaleTargetRef,
    ) -> Result<TargetState, ClusterError> {
        let key = (namespace.to_string(), target.kind.clone());
        match listed.found.get(&key).filter(|_| listed_kind(target)) {
            Some(found) => found
                .get(&target.name)
                .cloned()
                .ok_or_else(|| ClusterError::NotFound {
                    what: format!("{} {namespace}/{}", target.kind, target.name),
                }),
            None => self.target_state(namespace, target).await,
        }
    }
}
