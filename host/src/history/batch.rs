//! Batched range queries: one request per series for many autoscalers of a
//! namespace, so the requests of a tick grow with namespaces and batches,
//! not with autoscalers.
//!
//! Each autoscaler's own query (its template rendered for it, the default
//! or an override alike) is tagged with a label naming its place in the
//! batch, and the tagged queries are joined with `or`:
//!
//! ```text
//! label_replace(<query for a>, "stepscale_batch", "0", "", "")
//!   or label_replace(<query for b>, "stepscale_batch", "1", "", "")
//! ```
//!
//! Each part evaluates as its query alone would, and no two parts can
//! share a label set, so the answer split back by the label is what the
//! single queries answer. The `or`s are nested as a balanced tree (a chain
//! would make Prometheus match every part against all before it).
//!
//! # Limits
//! A batch holds at most [`MAX_BATCH`] autoscalers, each for at most
//! [`MAX_BATCHED_POINTS`] grid points: the tail a tick fetches after the
//! first. A longer window (an autoscaler's first, whole window) is asked
//! for alone: Prometheus evaluates an `or` point by point, and batches of
//! whole weeks cost it more than the separate queries (the fleet
//! benchmark's first tick read for 11.9 s instead of 4.7 s with weeks in
//! batches of 24). A batch is sent as a form POST, so its length is not
//! bound by a URL's.

use super::prometheus::{
    align, each_series, ApiSeries, Grid, PrometheusConfig, PrometheusError, Queries, Request,
    Traffic, Window,
};
use super::HistoryKey;

/// The label that names which autoscaler of a batch a series belongs to.
pub const BATCH_LABEL: &str = "stepscale_batch";
/// The most autoscalers one batched query asks for.
pub const MAX_BATCH: usize = 100;
/// The most grid points per autoscaler a batched query asks for; a longer
/// window is asked for one autoscaler at a time.
pub const MAX_BATCHED_POINTS: usize = 64;

/// One query answering all of `queries` (each one autoscaler's query), its
/// series tagged with [`BATCH_LABEL`] = the query's index. Each query ends
/// its line, so a `#` comment in it stays within it.
///
/// # Examples
/// ```
/// use stepscale_operator::history::batch::union_query;
/// assert_eq!(
///     union_query(&["up{a=\"1\"}".into(), "up{a=\"2\"}".into()]),
///     "(label_replace(up{a=\"1\"}\n, \"stepscale_batch\", \"0\", \"\", \"\")) or \
///      (label_replace(up{a=\"2\"}\n, \"stepscale_batch\", \"1\", \"\", \"\"))"
/// );
/// ```
pub fn union_query(queries: &[String]) -> String {
    fn join(queries: &[String], offset: usize, out: &mut String) {
        if let [only] = queries {
            out.push_str(&format!(
                "label_replace({only}\n, \"{BATCH_LABEL}\", \"{offset}\", \"\", \"\")"
            ));
            return;
        }
        let mid = queries.len() / 2;
        out.push('(');
        join(&queries[..mid], offset, out);
        out.push_str(") or (");
        join(&queries[mid..], offset + mid, out);
        out.push(')');
    }
    let mut out = String::new();
    if !queries.is_empty() {
        join(queries, 0, &mut out);
    }
    out
}

/// One autoscaler's samples from a batched answer: `None` when its query
/// matched nothing.
type Samples = Result<Option<Vec<(f64, String)>>, PrometheusError>;

/// Split a batched answer by [`BATCH_LABEL`] into the samples of each of
/// `count` autoscalers: `None` for one whose query matched nothing, an
/// [`PrometheusError::Ambiguous`] for one whose query gave several series.
///
/// # Errors
/// [`PrometheusError::BadResponse`] when a series lacks the label or names
/// no autoscaler of the batch.
fn split(
    result: Vec<ApiSeries>,
    count: usize,
    series: &'static str,
) -> Result<Vec<Samples>, PrometheusError> {
    let mut out: Vec<Samples> = (0..count).map(|_| Ok(None)).collect();
    for s in result {
        let index = s
            .metric
            .get(BATCH_LABEL)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|i| *i < count)
            .ok_or_else(|| PrometheusError::BadResponse {
                series,
                message: format!(
                    "a series of a batched answer has no {BATCH_LABEL} label of the batch"
                ),
            })?;
        out[index] = match std::mem::replace(&mut out[index], Ok(None)) {
            Ok(None) => Ok(Some(s.values)),
            Ok(Some(_)) => Err(PrometheusError::Ambiguous { series, count: 2 }),
            Err(PrometheusError::Ambiguous { series, count }) => Err(PrometheusError::Ambiguous {
                series,
                count: count + 1,
            }),
            Err(e) => Err(e),
        };
    }
    Ok(out)
}

/// The series of each of `keys` on `grid`, one batched query per series
/// (run concurrently), as [`super::prometheus::fetch_window`] gives them
/// one autoscaler at a time. Requests and bytes are added to `traffic`.
///
/// # Errors
/// The outer error is the batch's: Prometheus unreachable, silent, or
/// refusing the batched query; nothing is known of any autoscaler. The
/// inner errors are an autoscaler's own (its query gave several series).
pub async fn fetch_windows(
    config: &PrometheusConfig,
    keys: &[HistoryKey],
    grid: Grid,
    traffic: &Traffic,
) -> Result<Vec<Result<Window, PrometheusError>>, PrometheusError> {
    let req = Request::new(config, grid, traffic)?;
    let fetch = |template: &str, series: &'static str| {
        let queries: Vec<String> = keys.iter().map(|k| Queries::render(template, k)).collect();
        let req = &req;
        async move {
            let result = req.query(&union_query(&queries), series, true).await?;
            let per_key = split(result, keys.len(), series)?;
            Ok::<_, PrometheusError>(
                per_key
                    .into_iter()
                    .map(|samples| align(&samples?.unwrap_or_default(), grid, series))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let (cpu, desired, current, rate) = each_series(&config.queries, fetch).await;
    let (cpu, desired, current) = (cpu?, desired?, current?);
    let rate: Vec<Option<Result<Vec<f64>, PrometheusError>>> = match rate.transpose()? {
        Some(r) => r.into_iter().map(Some).collect(),
        None => (0..keys.len()).map(|_| None).collect(),
    };
    Ok(cpu
        .into_iter()
        .zip(desired)
        .zip(current)
        .zip(rate)
        .map(|(((cpu, desired), current), rate)| {
            Ok(Window {
                grid,
                cpu: cpu?,
                desired: desired?,
                current: current?,
                rate: rate.transpose()?,
            })
        })
        .collect())
}

/// Whether a batch that failed is worth asking again in smaller batches:
/// Prometheus answered, but refused or could not serve this batch (a
/// rejected query, an HTTP error, an unreadable answer). Not when it did
/// not answer at all or the settings are unusable: smaller batches would
/// fare no better, and each autoscaler's own query reports the error.
pub fn worth_splitting(e: &PrometheusError) -> bool {
    matches!(
        e,
        PrometheusError::Query { .. }
            | PrometheusError::Http { .. }
            | PrometheusError::BadResponse { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::super::prometheus::CPU;
    use super::*;

    fn labelled(index: &str, t: f64) -> ApiSeries {
        ApiSeries {
            metric: [(BATCH_LABEL.to_owned(), index.to_owned())].into(),
            values: vec![(t, "1".into())],
        }
    }

    #[test]
    fn every_query_is_tagged_once_in_a_balanced_union() {
        let queries: Vec<String> = (0..5).map(|i| format!("q{i}")).collect();
        let u = union_query(&queries);
        for i in 0..5 {
            assert_eq!(
                u.matches(&format!(
                    "label_replace(q{i}\n, \"{BATCH_LABEL}\", \"{i}\", \"\", \"\")"
                ))
                .count(),
                1,
                "{u}"
            );
        }
        assert_eq!(u.matches(" or ").count(), 4);
        // Balanced: no part sits deeper than ceil(log2(5)) = 3 parentheses.
        let mut depth = 0i32;
        let mut deepest = 0;
        for c in u.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            deepest = deepest.max(depth);
        }
        assert_eq!(depth, 0);
        assert!(deepest <= 3 + 1, "{u}: depth {deepest}");
        assert_eq!(union_query(&[]), "");
    }

    #[test]
    fn an_answer_is_split_back_by_the_label() {
        let got = split(
            vec![
                labelled("2", 10.0),
                labelled("0", 20.0),
                labelled("2", 30.0),
            ],
            3,
            CPU,
        )
        .expect("split");
        assert_eq!(got[0].as_ref().ok(), Some(&Some(vec![(20.0, "1".into())])));
        assert!(matches!(got[1], Ok(None)), "matched nothing");
        assert!(
            matches!(got[2], Err(PrometheusError::Ambiguous { count: 2, .. })),
            "two series for one autoscaler: {:?}",
            got[2]
        );
        for bad in ["3", "x"] {
            assert!(matches!(
                split(vec![labelled(bad, 1.0)], 3, CPU),
                Err(PrometheusError::BadResponse { .. })
            ));
        }
        let unlabelled = ApiSeries {
            metric: Default::default(),
            values: Vec::new(),
        };
        assert!(split(vec![unlabelled], 1, CPU).is_err());
    }

    #[test]
    fn only_a_batch_prometheus_answered_is_split() {
        let query = PrometheusError::Query {
            series: CPU,
            error_type: "execution".into(),
            message: "query processing would load too many samples".into(),
        };
        assert!(worth_splitting(&query));
        let timeout = PrometheusError::Timeout {
            endpoint: "http://p:9090".into(),
            series: CPU,
            seconds: 10,
        };
        assert!(!worth_splitting(&timeout));
        assert!(!worth_splitting(&PrometheusError::Config("x".into())));
    }
}
