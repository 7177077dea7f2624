//! Leader election with a `coordination.k8s.io/v1` Lease.
//!
//! Only the leader runs mutating passes (apply, verify, rollback, and the
//! writes of recommendations); followers analyze read-only. The lease lasts
//! [`DEFAULT_LEASE_SECONDS`] by default. Besides every tick, the run loop
//! keeps the lease on its own ([`LeaderElector::keep`]): the leader renews
//! it every third of a duration, however long a tick takes, and a follower
//! looks every [`RETRY_PERIOD`], so it takes a released lease within
//! seconds and an expired one within a duration of the leader's last renew,
//! and starts leading at once rather than at its next tick.
//!
//! # Why 45 s
//! A crash costs at most one lease duration plus a retry period of
//! leadership (about 47 s), not a multiple of the analysis interval. The
//! leader treats leadership as lost two thirds of a duration (30 s) after its
//! last renew and renews every 15 s, so one failed renew (a slow or briefly
//! unreachable API server) does not cost it leadership; much shorter leases
//! would let an API server hiccup move leadership back and forth.
//!
//! # Guarantees
//! - Every acquire and renew is a write with the lease's `resourceVersion`
//!   as precondition, so two candidates racing for an expired lease cannot
//!   both win: one gets a conflict and stays follower.
//! - A follower takes over only after it has seen the same lease record
//!   (holder and renew time) unchanged for a whole lease duration on its
//!   own clock, so clock skew between replicas does not matter.
//! - The leader treats its leadership as lost a third of a lease duration
//!   before the lease could expire ([`LeaderElector::holds_lease`]), so a
//!   write it starts cannot overlap a successor's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::Client;

use crate::lifecycle::Leadership;

/// Default lease name (`leaderElection.leaseName`).
pub const DEFAULT_LEASE_NAME: &str = "stepscale-autoscaler-leader";
/// Default lease duration, seconds (`leaderElection.leaseDurationSeconds`).
pub const DEFAULT_LEASE_SECONDS: u64 = 45;
/// How often a follower looks at the lease in [`LeaderElector::keep`].
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// A failed lease read or write (other than losing a race, which is not an
/// error: the candidate just stays follower).
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The API call failed.
    #[error("lease {namespace}/{name}: {}", crate::cluster::api_message(.source))]
    Api {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

#[derive(Debug, Default)]
struct State {
    /// Our leadership is valid until then (local clock).
    held_until: Option<Instant>,
    /// The other holder's record as last seen, and when it was first seen.
    observed: Option<(String, Instant)>,
}

/// One candidate in the election.
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
    state: Mutex<State>,
    /// One acquire-or-renew at a time: the keeper task and a tick's fresh
    /// check must not race each other (the loser of such a race would
    /// clear the leadership the winner just took).
    renewing: tokio::sync::Mutex<()>,
}

fn is_race(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() || s.is_already_exists())
}

impl LeaderElector {
    /// A candidate `identity` for lease `namespace/name` lasting `duration`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            duration: duration.max(Duration::from_secs(1)),
            state: Mutex::new(State::default()),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// This candidate's identity (the lease's `holderIdentity` when leader).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The lease duration.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// True while our last successful acquire/renew is recent enough that
    /// no one else can hold the lease (two thirds of a duration).
    pub fn holds_lease(&self) -> bool {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.held_until)
            .is_some_and(|t| Instant::now() < t)
    }

    /// How long our leadership stays valid without a renew; zero when not
    /// leader.
    pub fn remaining(&self) -> Duration {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.held_until)
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    fn set_held(&self, started: Option<Instant>) {
        if let Ok(mut s) = self.state.lock() {
            s.held_until = started.map(|t| t + self.duration * 2 / 3);
            if started.is_some() {
                s.observed = None;
            }
        }
    }

    fn err(&self, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    fn spec(
        &self,
        now: jiff::Timestamp,
        acquire: Option<MicroTime>,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquire.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Acquire the lease if it is free or expired, or renew it if we hold
    /// it. Returns whether we are leader now. Losing a race is `Ok(false)`.
    ///
    /// # Errors
    /// [`LeaderError::Api`] when the lease cannot be read or written for
    /// another reason; leadership is then considered lost.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaderError> {
        let _one_at_a_time = self.renewing.lock().await;
        let started = Instant::now();
        let now = jiff::Timestamp::now();
        let existing = match self.api.get_opt(&self.name).await {
            Ok(l) => l,
            Err(e) => {
                self.set_held(None);
                return Err(self.err(e));
            }
        };
        let pp = PostParams::default();
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&pp, &lease).await {
                Ok(_) => {
                    self.set_held(Some(started));
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired leadership");
                    Ok(true)
                }
                Err(e) if is_race(&e) => {
                    self.set_held(None);
                    Ok(false)
                }
                Err(e) => {
                    self.set_held(None);
                    Err(self.err(e))
                }
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            // Someone else holds it: take over only once their record has
            // stayed unchanged for a whole lease duration on our clock.
            let record = format!("{holder}@{:?}", spec.renew_time.as_ref().map(|t| t.0));
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.duration, Duration::from_secs);
            let expired = {
                let mut s = match self.state.lock() {
                    Ok(s) => s,
                    Err(_) => return Ok(false),
                };
                s.held_until = None;
                match &s.observed {
                    Some((r, since)) if *r == record => since.elapsed() >= duration,
                    _ => {
                        s.observed = Some((record, Instant::now()));
                        false
                    }
                }
            };
            if !expired {
                return Ok(false);
            }
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquire = if ours {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(now, acquire, transitions));
        match self.api.replace(&self.name, &pp, &lease).await {
            Ok(_) => {
                if !ours {
                    tracing::info!(lease = %self.name, identity = %self.identity, previous = %holder, "acquired leadership");
                }
                self.set_held(Some(started));
                Ok(true)
            }
            Err(e) if is_race(&e) => {
                self.set_held(None);
                Ok(false)
            }
            Err(e) => {
                self.set_held(None);
                Err(self.err(e))
            }
        }
    }

    /// Keep trying to hold the lease until the task is dropped: renew it
    /// every third of a duration while leader, look every [`RETRY_PERIOD`]
    /// while follower, and notify `became_leader` on each takeover (the run
    /// loop then ticks at once). Errors count as followership, as in
    /// [`Self::try_acquire_or_renew`].
    pub async fn keep(
        self: std::sync::Arc<Self>,
        became_leader: std::sync::Arc<tokio::sync::Notify>,
    ) {
        loop {
            let was = self.holds_lease();
            let now = match self.try_acquire_or_renew().await {
                Ok(leader) => leader,
                Err(e) => {
                    tracing::debug!("lease: {e}");
                    false
                }
            };
            if now && !was {
                became_leader.notify_one();
            }
            let wait = if now {
                self.duration / 3
            } else {
                RETRY_PERIOD.min(self.duration / 3)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Give up the lease (on shutdown) so a standby can take over at once.
    /// Best effort: errors are logged.
    pub async fn release(&self) {
        if !self.holds_lease() {
            return;
        }
        self.set_held(None);
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            if let Some(spec) = lease.spec.as_mut() {
                if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                    spec.holder_identity = None;
                    if let Err(e) = self
                        .api
                        .replace(&self.name, &PostParams::default(), &lease)
                        .await
                    {
                        tracing::debug!(lease = %self.name, "releasing the lease failed: {e}");
                    }
                }
            }
        }
    }
}

impl Leadership for LeaderElector {
    fn holds_lease(&self) -> bool {
        LeaderElector::holds_lease(self)
    }
}
