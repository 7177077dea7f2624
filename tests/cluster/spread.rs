//! A tick that would not fit its interval analyzes part of the autoscalers,
//! least recently analyzed first, and the rest on the next ticks; the
//! mutating pass still runs over every recommendation on every tick.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use stepscale_operator::history::source::HistorySource;
use stepscale_operator::history::{HistoryKey, SourcedHistory};
use stepscale_operator::license::LicenseState;
use stepscale_operator::operator::controller::Operator;

use crate::common::{analyzer, cluster, logs, SeriesSource, TestNamespace};

/// Real NAB histories, each handed out one second late. A test double for
/// a slow metrics backend: it makes reading twelve histories take longer
/// than the 1 s interval's budget on any machine, so the spreading is
/// decided by the operator's own measurement, not by this machine's speed.
/// It notes which autoscalers' histories each tick read.
struct Slow {
    source: Arc<SeriesSource>,
    read: Mutex<BTreeSet<String>>,
}

impl Slow {
    /// The autoscalers whose histories were read since the last call.
    fn take_read(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.read.lock().expect("read names"))
    }
}

impl HistorySource for Slow {
    fn history<'a>(
        &'a self,
        key: &'a HistoryKey,
        now: i64,
    ) -> BoxFuture<'a, Option<SourcedHistory>> {
        Box::pin(async move {
            if let Ok(mut read) = self.read.lock() {
                read.insert(key.autoscaler.clone());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.source.history(key, now).await
        })
    }
}

const N: usize = 12;

fn name(i: usize) -> String {
    format!("w{i:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_over_its_budget_spreads_the_analysis_and_still_applies_on_time() {
    let Some(client) = cluster("spread").await else {
        return;
    };
    let ns = TestNamespace::new(client, "spread").await;
    let names: Vec<String> = (0..N).map(name).collect();
    let series = Arc::new(ns.healthy_workloads(&names).await);
    let slow = Arc::new(Slow {
        source: series.clone(),
        read: Mutex::default(),
    });
    let mut config = ns.config("op", 30, 600);
    config.interval = Duration::from_secs(1);
    let op = Operator::new(
        ns.client.clone(),
        config,
        analyzer(),
        LicenseState::Licensed,
    )
    .with_history(slow.clone())
    .with_health(series);

    // The first tick knows no cost yet: it analyzes everything.
    let first = op.tick().await.expect("tick 1");
    assert_eq!((first.analyzed, first.deferred), (N, 0), "{first:?}");
    let every: BTreeSet<String> = (0..N).map(name).collect();
    assert_eq!(slow.take_read(), every, "tick 1 reads every history");
    let recs = first.published.created;
    assert!(recs >= N - 1, "recommendations for the fleet: {first:?}");

    // From then on only what fits, and nothing is lost meanwhile.
    let second = op.tick().await.expect("tick 2");
    assert!(second.deferred > 0, "{second:?}");
    assert_eq!(second.analyzed + second.deferred, N, "{second:?}");
    assert_eq!(
        second.published.removed, 0,
        "deferred is not stale: {second:?}"
    );
    assert!(logs().contains("analysis spread over ticks"));
    let read_2 = slow.take_read();
    assert_eq!(read_2.len(), second.analyzed, "{read_2:?} / {second:?}");

    // w00 was analyzed in tick 2 (first in order among the oldest), so
    // tick 3 leaves it for later: approved now, it is applied in tick 3 all
    // the same.
    ns.approve(&format!("{}-hpa", name(0))).await;
    let third = op.tick().await.expect("tick 3");
    assert!(third.deferred > 0, "{third:?}");
    assert_eq!(third.pass.applied, 1, "applied without waiting: {third:?}");

    let read_3 = slow.take_read();
    assert_eq!(read_3.len(), third.analyzed, "{read_3:?} / {third:?}");

    // Every autoscaler comes round, least recently analyzed first: until
    // each has been read again since tick 1, a tick reads only ones not
    // read again yet (all of those, if it reads more than are left).
    let mut round: BTreeSet<String> = BTreeSet::new();
    let mut reads = vec![(2, read_2), (3, read_3)];
    for tick in 4..=12 {
        if reads.iter().map(|(_, r)| r.len()).sum::<usize>() >= 2 * N {
            break;
        }
        let r = op
            .tick()
            .await
            .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        assert_eq!(r.published.removed, 0, "{r:?}");
        let read = slow.take_read();
        assert_eq!(read.len(), r.analyzed, "tick {tick}: {read:?} / {r:?}");
        reads.push((tick, read));
    }
    for (tick, read) in &reads {
        let fresh = read.iter().filter(|n| !round.contains(*n)).count();
        assert_eq!(
            fresh,
            read.len().min(N - round.len()),
            "tick {tick} read {read:?} while {:?} were not read since tick 1",
            every.difference(&round).collect::<Vec<_>>()
        );
        round.extend(read.iter().cloned());
        if round.len() == N {
            break;
        }
    }
    assert_eq!(
        round,
        every,
        "every autoscaler analyzed again by tick {}",
        reads.last().map_or(3, |(t, _)| *t)
    );
    let listed = ns
        .recs()
        .list(&Default::default())
        .await
        .expect("list recommendations");
    assert_eq!(listed.items.len(), recs, "every recommendation kept");
    ns.cleanup().await;
}
