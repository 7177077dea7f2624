//! Every ScalingRecommendation in the watched namespaces as a watch keeps
//! them: a pass reads them from memory instead of listing them again.
//!
//! One store per watched scope (a namespace, or the whole cluster), each
//! fed by its own watch. A read is served from the stores only when it can
//! be trusted:
//! - every scope's watch has listed once and has not failed since (a
//!   failing watch sends the pass back to a LIST until it delivers again);
//! - every write this instance made to a recommendation has come back
//!   through the watch (its `resourceVersion`, or its absence after a
//!   delete), so a pass never acts on a copy older than its own writes.
//!   When they do not come back within the wait (another writer changed
//!   the object meanwhile, or the watch lags), the read gives up and the
//!   caller lists.
//!
//! Objects from other writers arrive with the watch's latency, milliseconds
//! here; a LIST read at a pass's start is older than that by the time the
//! pass reaches its last recommendation, and every write carries the
//! `resourceVersion` it was computed from either way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{store::Writer, ObjectRef, Store};
use kube::runtime::watcher;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::ScalingRecommendation;

/// One recommendation as the watch delivered it: parsed, or kept as its
/// metadata with the reason it did not parse (counted and skipped by
/// readers, as a LIST skips it, instead of failing the whole watch).
#[derive(Debug, Clone)]
pub enum Watched {
    /// A recommendation that parsed.
    Parsed(Arc<ScalingRecommendation>),
    /// One that did not: its metadata and the parse error.
    Malformed {
        /// The object's metadata.
        metadata: Box<ObjectMeta>,
        /// Why it did not parse.
        error: String,
    },
}

impl<'de> Deserialize<'de> for Watched {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        // Parsed from the tree by reference: no copy of the object.
        match ScalingRecommendation::deserialize(&value) {
            Ok(mut r) => {
                // Never read; often larger than the rest of the object.
                r.metadata.managed_fields = None;
                Ok(Watched::Parsed(Arc::new(r)))
            }
            Err(e) => {
                let mut metadata = match value.get("metadata") {
                    Some(m) => ObjectMeta::deserialize(m).map_err(D::Error::custom)?,
                    None => ObjectMeta::default(),
                };
                metadata.managed_fields = None;
                Ok(Watched::Malformed {
                    metadata: Box::new(metadata),
                    error: e.to_string(),
                })
            }
        }
    }
}

impl kube::Resource for Watched {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        ScalingRecommendation::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        ScalingRecommendation::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        ScalingRecommendation::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        ScalingRecommendation::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        match self {
            Watched::Parsed(r) => &r.metadata,
            Watched::Malformed { metadata, .. } => metadata,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Watched::Parsed(r) => &mut Arc::make_mut(r).metadata,
            Watched::Malformed { metadata, .. } => metadata,
        }
    }
}

/// The `(namespace, name)` of a recommendation.
pub type RecommendationKey = (String, String);

/// A write this instance made to a recommendation: its key and the
/// `resourceVersion` it left (`None`: deleted).
pub type Written = (RecommendationKey, Option<String>);

/// What a read from the cache gives: the recommendations, in namespace and
/// name order (as a LIST gives them), and how many did not parse.
pub type Snapshot = (Vec<Arc<ScalingRecommendation>>, usize);

/// One watched scope: its store and whether its watch can be trusted now.
struct Scope {
    store: Store<Watched>,
    /// Listed once, and no error since the last event.
    current: Arc<AtomicBool>,
}

/// The watched recommendations; empty (every read falls back to a LIST)
/// until [`RecommendationCache::add_scope`] is called.
#[derive(Default)]
pub struct RecommendationCache {
    scopes: Mutex<Vec<Scope>>,
    /// Writes not yet seen coming back through the watch.
    pending: Mutex<HashMap<RecommendationKey, Option<String>>>,
}

impl RecommendationCache {
    /// Forget every scope and noted write (before watching anew).
    pub fn clear(&self) {
        if let Ok(mut scopes) = self.scopes.lock() {
            scopes.clear();
        }
        self.listed();
    }

    /// Add a scope: returns the function its watch calls with each event,
    /// or with the error when the watch fails. When that function is
    /// dropped (its watch stopped), the scope is no longer current.
    pub fn add_scope(
        &self,
    ) -> impl FnMut(Result<&watcher::Event<Watched>, &watcher::Error>) + Send + 'static {
        let mut writer = Writer::<Watched>::default();
        let current = Current(Arc::new(AtomicBool::new(false)));
        if let Ok(mut scopes) = self.scopes.lock() {
            scopes.push(Scope {
                store: writer.as_reader(),
                current: current.0.clone(),
            });
        }
        let mut listed = false;
        move |event| match event {
            Ok(e) => {
                writer.apply_watcher_event(e);
                match e {
                    watcher::Event::InitDone => {
                        listed = true;
                        current.0.store(true, Ordering::Release);
                    }
                    // Delivering again after a failure: the watch resumes
                    // from where it stopped, or lists anew.
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) if listed => {
                        current.0.store(true, Ordering::Release);
                    }
                    _ => {}
                }
            }
            Err(_) => current.0.store(false, Ordering::Release),
        }
    }

    /// True once every scope's watch has listed and none is failing.
    pub fn is_current(&self) -> bool {
        self.scopes
            .lock()
            .is_ok_and(|s| !s.is_empty() && s.iter().all(|s| s.current.load(Ordering::Acquire)))
    }

    /// Remember writes this instance made, so that no read is served
    /// before the watch has delivered them. Ignored while nothing is
    /// watched (reads list then).
    pub fn expect(&self, written: impl IntoIterator<Item = Written>) {
        if self.scopes.lock().map_or(true, |s| s.is_empty()) {
            return;
        }
        if let Ok(mut pending) = self.pending.lock() {
            pending.extend(written);
        }
    }

    /// Every watched recommendation, once the watch is current and has
    /// delivered this instance's writes; waits up to `wait` for them.
    /// `None` when the caller must list instead (nothing watched, a watch
    /// failing, or writes still missing after `wait`), and then call
    /// [`RecommendationCache::listed`] once the LIST succeeded.
    pub async fn read(&self, wait: Duration) -> Option<Snapshot> {
        let started = Instant::now();
        loop {
            match self.try_read() {
                Ok(snapshot) => return Some(snapshot),
                Err(Missing::Watch) => break,
                Err(Missing::Writes(n)) if started.elapsed() >= wait => {
                    tracing::debug!(
                        writes = n,
                        "the recommendation watch has not delivered this instance's writes; listing instead"
                    );
                    break;
                }
                Err(Missing::Writes(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        None
    }

    /// A LIST of every recommendation succeeded: it read past every write
    /// noted so far, so reads no longer wait for them.
    pub fn listed(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.clear();
        }
    }

    fn try_read(&self) -> Result<Snapshot, Missing> {
        let scopes = self.scopes.lock().map_err(|_| Missing::Watch)?;
        if scopes.is_empty() || !scopes.iter().all(|s| s.current.load(Ordering::Acquire)) {
            return Err(Missing::Watch);
        }
        let mut pending = self.pending.lock().map_err(|_| Missing::Watch)?;
        pending.retain(|(ns, name), rv| {
            let key = ObjectRef::<Watched>::new(name).within(ns);
            let seen = scopes.iter().find_map(|s| s.store.get(&key));
            let seen_rv = seen
                .as_ref()
                .map(|w| kube::Resource::meta(&**w).resource_version.clone());
            match (rv, seen_rv) {
                // Deleted, and gone from the store.
                (None, None) => false,
                (Some(rv), Some(Some(seen))) => *rv != seen,
                _ => true,
            }
        });
        if !pending.is_empty() {
            return Err(Missing::Writes(pending.len()));
        }
        let mut malformed = 0;
        let mut recs = Vec::new();
        for scope in scopes.iter() {
            for w in scope.store.state() {
                match &*w {
                    Watched::Parsed(r) => recs.push(r.clone()),
                    Watched::Malformed { metadata, error } => {
                        malformed += 1;
                        tracing::warn!(
                            recommendation = %format!(
                                "{}/{}",
                                metadata.namespace.as_deref().unwrap_or_default(),
                                metadata.name.as_deref().unwrap_or_default()
                            ),
                            "skipping a malformed ScalingRecommendation: {error}"
                        );
                    }
                }
            }
        }
        recs.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        Ok((recs, malformed))
    }
}

/// A scope's "current" flag, cleared when its watch's handler is dropped.
struct Current(Arc<AtomicBool>);

impl Drop for Current {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Why a read cannot be served from the stores.
enum Missing {
    /// No watch, or one not current.
    Watch,
    /// This many writes not delivered yet.
    Writes(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ScalingRecommendationSpec;
    use watcher::Event;

    /// A recommendation in `shop` named `name` at `rv`, as the watch
    /// delivers it (through the same parse).
    fn watched(name: &str, rv: &str) -> Watched {
        let mut r = ScalingRecommendation::new(
            name,
            ScalingRecommendationSpec {
                recommendation: crate::recommendation::recommend(
                    &crate::fixtures::workload(),
                    crate::recommendation::WorkloadFindings::default(),
                ),
                approved: false,
            },
        );
        r.metadata.namespace = Some("shop".into());
        r.metadata.resource_version = Some(rv.into());
        serde_json::from_value(serde_json::to_value(&r).expect("serializes")).expect("parses")
    }

    fn key(name: &str) -> RecommendationKey {
        ("shop".into(), name.into())
    }

    /// `(name, resourceVersion)` of each recommendation a read gives.
    async fn names(cache: &RecommendationCache) -> Option<Vec<(String, String)>> {
        let (recs, _) = cache.read(Duration::from_millis(30)).await?;
        Some(
            recs.iter()
                .map(|r| {
                    (
                        r.metadata.name.clone().unwrap_or_default(),
                        r.metadata.resource_version.clone().unwrap_or_default(),
                    )
                })
                .collect(),
        )
    }

    fn pair(name: &str, rv: &str) -> (String, String) {
        (name.into(), rv.into())
    }

    #[tokio::test]
    async fn a_read_waits_until_the_watch_has_delivered_this_instances_writes() {
        let cache = RecommendationCache::default();
        assert_eq!(names(&cache).await, None, "nothing watched: list");
        let mut deliver = cache.add_scope();
        deliver(Ok(&Event::Init));
        deliver(Ok(&Event::InitApply(watched("a", "1"))));
        assert_eq!(names(&cache).await, None, "not listed yet: list");
        deliver(Ok(&Event::InitDone));
        assert_eq!(names(&cache).await, Some(vec![pair("a", "1")]));

        // An update this instance wrote: not served until it comes back.
        cache.expect([(key("a"), Some("2".to_string()))]);
        assert_eq!(names(&cache).await, None);
        deliver(Ok(&Event::Apply(watched("a", "2"))));
        assert_eq!(names(&cache).await, Some(vec![pair("a", "2")]));

        // A create, then a delete.
        cache.expect([(key("b"), Some("3".to_string()))]);
        assert_eq!(names(&cache).await, None);
        deliver(Ok(&Event::Apply(watched("b", "3"))));
        assert_eq!(
            names(&cache).await,
            Some(vec![pair("a", "2"), pair("b", "3")]),
            "in name order, as a LIST gives them"
        );
        cache.expect([(key("a"), None)]);
        assert_eq!(names(&cache).await, None);
        deliver(Ok(&Event::Delete(watched("a", "2"))));
        assert_eq!(names(&cache).await, Some(vec![pair("b", "3")]));
    }

    #[tokio::test]
    async fn writes_a_list_has_read_past_are_not_waited_for() {
        let cache = RecommendationCache::default();
        let mut deliver = cache.add_scope();
        deliver(Ok(&Event::Init));
        deliver(Ok(&Event::InitDone));
        cache.expect([(key("a"), Some("7".to_string()))]);
        assert_eq!(names(&cache).await, None);
        cache.listed();
        assert_eq!(names(&cache).await, Some(vec![]));
    }

    #[tokio::test]
    async fn a_failing_watch_sends_reads_to_a_list_until_it_delivers_again() {
        let cache = RecommendationCache::default();
        let mut deliver = cache.add_scope();
        deliver(Ok(&Event::Init));
        deliver(Ok(&Event::InitApply(watched("a", "1"))));
        deliver(Ok(&Event::InitDone));
        assert!(cache.is_current());
        deliver(Err(&watcher::Error::NoResourceVersion));
        assert!(!cache.is_current());
        assert_eq!(names(&cache).await, None);
        deliver(Ok(&Event::Apply(watched("a", "2"))));
        assert_eq!(names(&cache).await, Some(vec![pair("a", "2")]));
        // Every scope must be current.
        let other = cache.add_scope();
        assert_eq!(names(&cache).await, None);
        // Watching anew forgets the old scopes.
        drop(other);
        cache.clear();
        let mut again = cache.add_scope();
        again(Ok(&Event::Init));
        again(Ok(&Event::InitApply(watched("b", "5"))));
        again(Ok(&Event::InitDone));
        assert_eq!(names(&cache).await, Some(vec![pair("b", "5")]));
        // A watch that stopped (its handler dropped) is not current.
        drop(again);
        assert!(!cache.is_current());
        assert_eq!(names(&cache).await, None);
    }

    #[tokio::test]
    async fn a_malformed_recommendation_is_counted_and_skipped() {
        let bad: Watched = serde_json::from_value(serde_json::json!({
            "apiVersion": "stepscale.io/v1alpha1",
            "kind": "ScalingRecommendation",
            "metadata": {"name": "bad", "namespace": "shop", "resourceVersion": "4",
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"approved": "yes"}
        }))
        .expect("kept, not refused");
        let Watched::Malformed { metadata, error } = &bad else {
            panic!("parsed a malformed recommendation: {bad:?}");
        };
        assert_eq!(metadata.name.as_deref(), Some("bad"));
        assert!(metadata.managed_fields.is_none());
        assert!(!error.is_empty());
        let cache = RecommendationCache::default();
        let mut deliver = cache.add_scope();
        deliver(Ok(&Event::Init));
        deliver(Ok(&Event::InitApply(bad)));
        deliver(Ok(&Event::InitApply(watched("a", "1"))));
        deliver(Ok(&Event::InitDone));
        let (recs, malformed) = cache.read(Duration::ZERO).await.expect("current");
        assert_eq!(malformed, 1);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].metadata.name.as_deref(), Some("a"));
    }
}
