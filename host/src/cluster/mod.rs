//! Every read from the API server: HPAs (autoscaling/v2 when served, else
//! autoscaling/v2beta2, chosen by discovery), KEDA ScaledObjects as dynamic
//! objects (keda.sh/v1alpha1; an absent CRD means KEDA is not installed, not
//! an error), the scale targets through their `/scale` subresource (any kind:
//! Deployment, StatefulSet, custom resources), and the target's pod template
//! CPU requests. The history the tick reads is in [`crate::history::source`].
//!
//! Writes live in [`crate::lifecycle`]; this module never changes an object.

pub mod autoscaler;
pub mod targets;

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::Value;
use stepscale_engine::snapshot::{AutoscalerKind, ContainerResources, ScaleTargetRef};

/// Objects read per LIST request by [`ClusterReader::list_paged`].
pub const LIST_PAGE: u32 = 100;

/// API group/version of KEDA ScaledObjects.
pub const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";
/// HPA API versions, most preferred first.
pub const HPA_API_VERSIONS: [&str; 2] = ["autoscaling/v2", "autoscaling/v2beta2"];

/// A failed read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// API discovery failed.
    #[error("discovery of {what} failed: {}", api_message(.source))]
    Discovery {
        /// What was being discovered.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The server serves no HPA version this operator understands.
    #[error("the API server serves neither autoscaling/v2 nor autoscaling/v2beta2 HorizontalPodAutoscalers")]
    NoHpaVersion,
    /// A listed kind's list did not hold the object.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for (`Deployment shop/web`).
        what: String,
    },
    /// A list or get failed.
    #[error("reading {what} failed: {}", api_message(.source))]
    Read {
        /// What was being read (`HorizontalPodAutoscalers in shop`).
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl ClusterError {
    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ClusterError::Discovery { .. } => "discovery",
            ClusterError::NoHpaVersion => "no_hpa_version",
            ClusterError::Read { .. } | ClusterError::NotFound { .. } => "read",
        }
    }
}

/// A kube error as one readable line: the API server's message for API
/// errors (not the whole debug structure), else the error itself.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} ({})", s.message, s.code)
        }
        other => other.to_string(),
    }
}

/// One live HPA or ScaledObject, with its spec and status as JSON.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    /// HPA or ScaledObject.
    pub kind: AutoscalerKind,
    /// The served API resource it was read through.
    pub resource: ApiResource,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `metadata.resourceVersion` when read.
    pub resource_version: Option<String>,
    /// `spec`, verbatim.
    pub spec: Value,
    /// `status`, verbatim (`null` when absent).
    pub status: Value,
    /// Owner references as `(kind, name)` (KEDA's HPA is owned by its
    /// ScaledObject).
    pub owners: Vec<(String, String)>,
    /// `metadata.annotations`.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Autoscaler {
    fn from_dynamic(
        kind: AutoscalerKind,
        resource: &ApiResource,
        obj: DynamicObject,
    ) -> Option<Self> {
        let owners = obj
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| (o.kind.clone(), o.name.clone()))
            .collect();
        Some(Autoscaler {
            owners,
            annotations: obj.metadata.annotations.unwrap_or_default(),
            kind,
            resource: resource.clone(),
            namespace: obj.metadata.namespace?,
            name: obj.metadata.name?,
            uid: obj.metadata.uid,
            resource_version: obj.metadata.resource_version,
            spec: obj.data.get("spec").cloned().unwrap_or(Value::Null),
            status: obj.data.get("status").cloned().unwrap_or(Value::Null),
        })
    }

    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }

    /// `namespace/name`, for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// A reference for Events about it.
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some(self.resource.api_version.clone()),
            kind: Some(self.resource.kind.clone()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: self.uid.clone(),
            ..ObjectReference::default()
        }
    }

    /// An owner reference to it (so a recommendation is garbage-collected
    /// with its autoscaler); `None` without a uid.
    pub fn owner_reference(&self) -> Option<OwnerReference> {
        Some(OwnerReference {
            api_version: self.resource.api_version.clone(),
            kind: self.resource.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone()?,
            controller: Some(false),
            block_owner_deletion: Some(false),
        })
    }
}

/// `HorizontalPodAutoscaler` or `ScaledObject`.
pub fn kind_name(kind: AutoscalerKind) -> &'static str {
    match kind {
        AutoscalerKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
        AutoscalerKind::ScaledObject => "ScaledObject",
    }
}

/// The autoscaler kind named by `name`, if it is one.
pub fn kind_from_name(name: &str) -> Option<AutoscalerKind> {
    match name {
        "HorizontalPodAutoscaler" => Some(AutoscalerKind::HorizontalPodAutoscaler),
        "ScaledObject" => Some(AutoscalerKind::ScaledObject),
        _ => None,
    }
}

/// What the operator reads from a scale target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetState {
    /// `/scale` `spec.replicas` (0 where the API omits it).
    pub spec_replicas: Option<i32>,
    /// `/scale` `status.replicas` (0 where the API omits it).
    pub status_replicas: Option<i32>,
    /// Pod template containers and their requests (empty without a template).
    pub containers: Vec<ContainerResources>,
}

/// Reads autoscalers and their targets in the watched namespaces.
pub struct ClusterReader {
    client: Client,
    namespaces: Vec<String>,
    hpa: ApiResource,
    keda: Option<ApiResource>,
    targets: Mutex<HashMap<(String, String), ApiResource>>,
}

impl ClusterReader {
    /// Discover the served HPA version and whether KEDA is installed.
    /// `namespaces` empty = all namespaces.
    ///
    /// # Errors
    /// - [`ClusterError::NoHpaVersion`] when neither HPA version is served.
    /// - [`ClusterError::Discovery`] when discovery itself fails (other
    ///   than "not found").
    pub async fn discover(client: Client, namespaces: Vec<String>) -> Result<Self, ClusterError> {
        let mut hpa = None;
        for gv in HPA_API_VERSIONS {
            if let Some(resource) = served(&client, gv, "HorizontalPodAutoscaler").await? {
                hpa = Some(resource);
                break;
            }
        }
        let hpa = hpa.ok_or(ClusterError::NoHpaVersion)?;
        let keda = served(&client, KEDA_API_VERSION, "ScaledObject").await?;
        Ok(ClusterReader {
            client,
            namespaces,
            hpa,
            keda,
            targets: Mutex::new(HashMap::new()),
        })
    }

    /// The HPA resource in use (`autoscaling/v2` or `autoscaling/v2beta2`).
    pub fn hpa_resource(&self) -> &ApiResource {
        &self.hpa
    }

    /// True when the ScaledObject CRD is served.
    pub fn keda_installed(&self) -> bool {
        self.keda.is_some()
    }

    /// The watched namespaces (empty = all).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The API resource of an autoscaler kind; `None` for ScaledObjects
    /// without KEDA.
    pub fn resource_of(&self, kind: AutoscalerKind) -> Option<&ApiResource> {
        match kind {
            AutoscalerKind::HorizontalPodAutoscaler => Some(&self.hpa),
            AutoscalerKind::ScaledObject => self.keda.as_ref(),
        }
    }

    /// A dynamic API for `resource` in `namespace`.
    pub fn api(&self, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, resource)
    }

    async fn list(&self, resource: &ApiResource) -> Result<Vec<DynamicObject>, ClusterError> {
        let mut out = Vec::new();
        self.list_paged(resource, |o| out.push(o)).await?;
        Ok(out)
    }

    /// Every object of `resource` in the watched namespaces, read
    /// [`LIST_PAGE`] at a time; each page is handed to `each` before the
    /// next is read, so a caller that converts the objects never holds
    /// more than a page of them as JSON.
    ///
    /// # Errors
    /// [`ClusterError::Read`] when a list fails.
    pub async fn list_paged(
        &self,
        resource: &ApiResource,
        mut each: impl FnMut(DynamicObject),
    ) -> Result<(), ClusterError> {
        let apis: Vec<(Api<DynamicObject>, String)> = if self.namespaces.is_empty() {
            vec![(
                Api::all_with(self.client.clone(), resource),
                format!("{}s in all namespaces", resource.kind),
            )]
        } else {
            self.namespaces
                .iter()
                .map(|ns| {
                    (
                        self.api(resource, ns),
                        format!("{}s in {ns}", resource.kind),
                    )
                })
                .collect()
        };
        for (api, what) in apis {
            list_pages(&api, &what, &mut each).await?;
        }
        Ok(())
    }

    /// Every HPA and ScaledObject in the watched namespaces.
    ///
    /// # Errors
    /// [`ClusterError::Read`] when a list fails.
    pub async fn autoscalers(&self) -> Result<Vec<Autoscaler>, ClusterError> {
        let mut out: Vec<Autoscaler> = self
            .list(&self.hpa)
            .await?
            .into_iter()
            .filter_map(|o| {
                Autoscaler::from_dynamic(AutoscalerKind::HorizontalPodAutoscaler, &self.hpa, o)
            })
            .collect();
        if let Some(keda) = &self.keda {
            out.extend(
                self.list(keda).await?.into_iter().filter_map(|o| {
                    Autoscaler::from_dynamic(AutoscalerKind::ScaledObject, keda, o)
                }),
            );
        }
        Ok(out)
    }

    /// Every ScaledObject in the watched namespaces (none without KEDA).
    ///
    /// # Errors
    /// [`ClusterError::Read`] when the list fails.
    pub async fn scaled_objects(&self) -> Result<Vec<Autoscaler>, ClusterError> {
        let Some(keda) = &self.keda else {
            return Ok(Vec::new());
        };
        Ok(self
            .list(keda)
            .await?
            .into_iter()
            .filter_map(|o| Autoscaler::from_dynamic(AutoscalerKind::ScaledObject, keda, o))
            .collect())
    }

    /// One autoscaler, read fresh; `Ok(None)` when it does not exist (or
    /// KEDA is not installed).
    ///
    /// # Errors
    /// [`ClusterError::Read`] for failures other than "not found".
    pub async fn autoscaler(
        &self,
        kind: AutoscalerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Autoscaler>, ClusterError> {
        let Some(resource) = self.resource_of(kind) else {
            return Ok(None);
        };
        match self.api(resource, namespace).get_opt(name).await {
            Ok(obj) => Ok(obj.and_then(|o| Autoscaler::from_dynamic(kind, resource, o))),
            Err(source) => Err(ClusterError::Read {
                what: format!("{} {namespace}/{name}", kind_name(kind)),
                source,
            }),
        }
    }

    async fn target_resource(&self, target: &ScaleTargetRef) -> Result<ApiResource, ClusterError> {
        let key = (target.api_version.clone(), target.kind.clone());
        if let Some(r) = self.targets.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(r);
        }
        let (group, version) = match target.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", target.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &target.kind);
        let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|source| ClusterError::Discovery {
                what: format!("{} {}", target.api_version, target.kind),
                source,
            })?;
        if let Ok(mut m) = self.targets.lock() {
            m.insert(key, resource.clone());
        }
        Ok(resource)
    }

    /// The target's `/scale` subresource and pod template requests.
    ///
    /// # Errors
    /// [`ClusterError::Discovery`] when the target kind is not served,
    /// [`ClusterError::Read`] when the object or its scale cannot be read.
    pub async fn target_state(
        &self,
        namespace: &str,
        target: &ScaleTargetRef,
    ) -> Result<TargetState, ClusterError> {
        let resource = self.target_resource(target).await?;
        let api = self.api(&resource, namespace);
        let what = || format!("{} {namespace}/{}", target.kind, target.name);
        // The API server serves the /scale of the apps/v1 workloads from
        // the object's own spec.replicas and status.replicas, so one GET of
        // the object reads both; other kinds' /scale is read on its own.
        let scale = if scale_is_the_objects(&resource) {
            None
        } else {
            let scale = api
                .get_scale(&target.name)
                .await
                .map_err(|source| ClusterError::Read {
                    what: format!("/scale of {}", what()),
                    source,
                })?;
            Some((
                // The API omits a replica count of 0.
                Some(scale.spec.and_then(|s| s.replicas).unwrap_or(0)),
                Some(scale.status.map_or(0, |s| s.replicas)),
            ))
        };
        let obj = api
            .get(&target.name)
            .await
            .map_err(|source| ClusterError::Read {
                what: what(),
                source,
            })?;
        let state = targets::state_of(&obj.data);
        Ok(match scale {
            Some((spec_replicas, status_replicas)) => TargetState {
                spec_replicas,
                status_replicas,
                ..state
            },
            None => state,
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Every object `api` lists, [`LIST_PAGE`] at a time, handed to `each`
/// page by page; `what` names the list in errors. The objects come without
/// their `metadata.managedFields`: the operator never reads them, and as
/// JSON trees they are often larger than the rest of the object.
async fn list_pages(
    api: &Api<DynamicObject>,
    what: &str,
    mut each: impl FnMut(DynamicObject),
) -> Result<(), ClusterError> {
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(LIST_PAGE);
        if let Some(t) = token.take() {
            lp = lp.continue_token(&t);
        }
        let page = api.list(&lp).await.map_err(|source| ClusterError::Read {
            what: what.to_string(),
            source,
        })?;
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        for mut o in page.items {
            o.metadata.managed_fields = None;
            each(o);
        }
        if token.is_none() {
            return Ok(());
        }
    }
}

/// True for the kinds whose `/scale` the API server serves from the
/// object's `spec.replicas` and `status.replicas`: apps/v1 Deployment,
/// StatefulSet and ReplicaSet.
fn scale_is_the_objects(resource: &ApiResource) -> bool {
    resource.group == "apps"
        && resource.version == "v1"
        && matches!(
            resource.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet"
        )
}

/// The API resource of `kind` in `group_version`, if served; `Ok(None)`
/// when the group/version is not served (404).
async fn served(
    client: &Client,
    group_version: &str,
    kind: &str,
) -> Result<Option<ApiResource>, ClusterError> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(list
            .resources
            .iter()
            .find(|r| r.kind == kind && !r.name.contains('/'))
            .map(|r| {
                let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
                ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    api_version: group_version.to_string(),
                    kind: kind.to_string(),
                    plural: r.name.clone(),
                }
            })),
        Err(kube::Error::Api(s)) if s.code == 404 || s.is_not_found() => Ok(None),
        Err(source) => Err(ClusterError::Discovery {
            what: group_version.to_string(),
            source,
        }),
    }
}
