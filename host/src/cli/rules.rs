//! `stepscale rules keygen|sign|verify|inspect`: the rule author's signing
//! path (see `crate::rules::signing` for the key and envelope formats).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use stepscale_engine::{
    EngineConfig, Finding, Forecast, LoadedRule, RuleEngine, RuleKind, Snapshot, WorkloadSnapshot,
};

use crate::analysis::Analyzer;
use crate::rules::admission::{self, kind_name, AdmissionPolicy, Admitted};
use crate::rules::configmap;
use crate::rules::signing::{self, SignedRule, MAX_COMPONENT_BYTES, MAX_ENVELOPE_BYTES};

/// Arguments of `rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// The `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Write a signing key pair (DIR/rule-signing.key, mode 0600, and
    /// DIR/rule-signing.pub); never overwrites.
    Keygen {
        /// Directory for the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a rule component; writes RULE.wasm.sig (or --out). The rule's
    /// id, version and kind are read from the component itself.
    Sign {
        /// The component.
        rule: PathBuf,
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the envelope (default: RULE.wasm.sig).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a component and its envelope against trusted keys, in the
    /// operator's order; exit 1 when it would not be admitted.
    Verify {
        /// The component.
        rule: PathBuf,
        /// Its signature envelope.
        signature: PathBuf,
        /// A trusted public key (base64, or a file); repeat to trust several.
        #[arg(long = "trusted-key", required = true)]
        trusted_keys: Vec<String>,
        /// A builtin rule id the rule may replace (`rules.replaceBuiltins`).
        #[arg(long = "replace-builtin")]
        replace_builtins: Vec<String>,
    },
    /// Show a component's metadata, world, ABI version, size, digest and,
    /// with a signature, its signer and whether it would be admitted by the
    /// trusted keys given.
    Inspect {
        /// The component.
        rule: PathBuf,
        /// Its signature envelope.
        signature: Option<PathBuf>,
        /// A trusted public key (base64, or a file); repeat to trust several.
        #[arg(long = "trusted-key")]
        trusted_keys: Vec<String>,
        /// A builtin rule id the rule may replace (`rules.replaceBuiltins`).
        #[arg(long = "replace-builtin")]
        replace_builtins: Vec<String>,
    },
    /// Print a ConfigMap manifest (YAML) carrying a signed component, for
    /// `kubectl apply -f -`. Refuses a component that cannot fit.
    Configmap {
        /// The component.
        rule: PathBuf,
        /// Its signature envelope.
        signature: PathBuf,
        /// The ConfigMap's name.
        #[arg(long)]
        name: String,
        /// Its namespace: the operator's release namespace, or one listed in
        /// `rules.namespaces`.
        #[arg(long)]
        namespace: String,
        /// The chart's `rules.configMapSelector` (equality labels).
        #[arg(long, default_value = crate::rules::configmap::DEFAULT_SELECTOR)]
        selector: String,
    },
    /// Run a component on a snapshot (the embedded demo by default) and
    /// print its findings or forecast per workload. For the author's own
    /// builds: runs unsigned, in the same sandbox as the operator.
    Test {
        /// The component.
        rule: PathBuf,
        /// Snapshot file (JSON); `-` reads standard input.
        snapshot: Option<PathBuf>,
        /// A parameter of this rule, `NAME=VALUE` (repeatable), as
        /// `rules.params.<rule-id>.<name>` sets it in the operator.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, f64)>,
    },
    /// Print a component's per-call latency (median, p99; a fresh instance
    /// per call, as in the operator) on a 7-day, 1-minute history (the
    /// demo's first workload, interpolated to 1 minute).
    Bench {
        /// The component.
        rule: PathBuf,
        /// Calls to time (after 3 warm-up calls).
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
}

/// Run `rules …`. Returns whether the check passed (`verify`, `inspect`).
///
/// # Errors
/// Unreadable files, bad keys, a component that cannot be loaded to be
/// signed (bad input: exit status 2).
pub fn run(args: RulesArgs) -> anyhow::Result<bool> {
    match args.command {
        RulesCommand::Keygen { out } => {
            let (private, public) = signing::keygen(&out)?;
            let key = signing::read_private_key(&private)?;
            println!(
                "private key: {} (mode 0600; keep it secret)",
                private.display()
            );
            println!("public key:  {}", public.display());
            println!("key id:      {}", signing::key_id(&key.verifying_key()));
            Ok(true)
        }
        RulesCommand::Sign { rule, key, out } => {
            let key = signing::read_private_key(&key)?;
            let bytes = read_component(&rule)?;
            let loaded = load(&rule, &bytes)?;
            let now = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let envelope = signing::sign(&bytes, &metadata(&loaded), &key, &now);
            let out = out.unwrap_or_else(|| sig_path(&rule));
            std::fs::write(&out, envelope)
                .with_context(|| format!("{}: cannot write the signature", out.display()))?;
            println!(
                "signed {} {} ({}) with key {} -> {}",
                loaded.id,
                loaded.version,
                kind_name(loaded.kind),
                signing::key_id(&key.verifying_key()),
                out.display()
            );
            Ok(true)
        }
        RulesCommand::Verify {
            rule,
            signature,
            trusted_keys,
            replace_builtins,
        } => {
            let trusted = trusted(&trusted_keys)?;
            let bytes = read_component(&rule)?;
            let envelope = read_envelope(&signature)?;
            match admit(&rule, &bytes, &envelope, &trusted, &replace_builtins) {
                Ok(Admitted { signed, .. }) => {
                    println!(
                        "admitted: {} {} ({}), signed by key {} at {}",
                        signed.rule_id,
                        signed.version,
                        signed.kind,
                        signed.signer_key_id,
                        signed.signed_at
                    );
                    Ok(true)
                }
                Err(why) => {
                    println!("rejected: {why}");
                    Ok(false)
                }
            }
        }
        RulesCommand::Configmap {
            rule,
            signature,
            name,
            namespace,
            selector,
        } => {
            print!(
                "{}",
                configmap_yaml(&rule, &signature, &name, &namespace, &selector)?
            );
            Ok(true)
        }
        RulesCommand::Test {
            rule,
            snapshot,
            params,
        } => {
            let bytes = read_component(&rule)?;
            let workloads = read_snapshot(snapshot.as_deref())?;
            let engine = RuleEngine::new(EngineConfig::default())?;
            let loaded = engine
                .load(&rule.display().to_string(), &bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_params(params.into_iter().collect());
            println!(
                "{} {} ({}) on {} workloads",
                loaded.id,
                loaded.version,
                kind_name(loaded.kind),
                workloads.len()
            );
            let mut failed = 0;
            for w in &workloads {
                println!("{}:", w.display_name());
                let (result, log) = match loaded.kind {
                    RuleKind::Detector => {
                        let run = engine.evaluate(&loaded, w);
                        (run.result.map(Outcome::Findings), run.log)
                    }
                    RuleKind::Forecaster => {
                        let step = w.history.step_seconds.max(1);
                        let run = engine.predict(
                            &loaded,
                            w,
                            crate::analysis::FORECAST_HORIZON_SECONDS / step,
                        );
                        (run.result.map(|f| Outcome::Forecast(Box::new(f))), run.log)
                    }
                };
                for line in log {
                    println!("  log[{}]: {}", line.level, line.message);
                }
                match result {
                    Ok(Outcome::Findings(f)) if f.is_empty() => println!("  no findings"),
                    Ok(Outcome::Findings(f)) => {
                        for f in f {
                            println!(
                                "  {:?} (confidence {:.2}): {}",
                                f.kind, f.confidence, f.summary
                            );
                            if !f.proposal.is_empty() {
                                println!("    proposes: {}", serde_json::to_string(&f.proposal)?);
                            }
                            for e in &f.evidence {
                                println!("    {} = {} {}", e.label, e.value, e.unit);
                            }
                        }
                    }
                    Ok(Outcome::Forecast(f)) => println!(
                        "  forecast: {} steps of {} s, {} peak windows",
                        f.replicas_needed.len(),
                        f.step_seconds,
                        f.peak_windows.len()
                    ),
                    Err(e) => {
                        failed += 1;
                        println!("  failed [{}]: {e}", e.label());
                    }
                }
            }
            Ok(failed == 0)
        }
        RulesCommand::Bench { rule, calls } => {
            let bytes = read_component(&rule)?;
            let engine = RuleEngine::new(EngineConfig::default())?;
            let loaded = engine
                .load(&rule.display().to_string(), &bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let workload = Arc::new(bench_workload()?);
            let call = || match loaded.kind {
                RuleKind::Detector => engine.evaluate(&loaded, &workload).result.err(),
                RuleKind::Forecaster => engine.predict(&loaded, &workload, 1440).result.err(),
            };
            for _ in 0..3 {
                if let Some(e) = call() {
                    anyhow::bail!("the rule failed on the bench history [{}]: {e}", e.label());
                }
            }
            let calls = calls.max(1);
            let mut times: Vec<Duration> = (0..calls)
                .map(|_| {
                    let t = Instant::now();
                    let _ = call();
                    t.elapsed()
                })
                .collect();
            times.sort();
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{} {} on {} samples at {} s, {calls} calls, fresh instance each:",
                loaded.id,
                loaded.version,
                workload.history.len(),
                workload.history.step_seconds
            );
            println!(
                "  median {:.3} ms, p99 {:.3} ms, max {:.3} ms (deadline {} ms)",
                ms(at(0.5)),
                ms(at(0.99)),
                ms(at(1.0)),
                engine.config().deadline.as_millis()
            );
            Ok(true)
        }
        RulesCommand::Inspect {
            rule,
            signature,
            trusted_keys,
            replace_builtins,
        } => {
            let trusted = trusted(&trusted_keys)?;
            let bytes = read_component(&rule)?;
            let envelope = signature.as_deref().map(read_envelope).transpose()?;
            println!("file:        {}", rule.display());
            println!(
                "size:        {} bytes (limit {MAX_COMPONENT_BYTES})",
                bytes.len()
            );
            println!("sha256:      {}", signing::digest(&bytes));
            match load(&rule, &bytes) {
                Ok(l) => {
                    println!("rule:        {} {}", l.id, l.version);
                    println!("world:       {}", kind_name(l.kind));
                    println!("abi:         {}", l.abi_version);
                    println!("description: {}", l.description);
                }
                Err(e) => println!("loads:       no: {e:#}"),
            }
            let Some(envelope) = envelope else {
                println!("signature:   none (unsigned rules are never admitted)");
                return Ok(false);
            };
            match signing::read_payload(&envelope) {
                Ok((p, _, _)) => println!(
                    "signature:   {} {} ({}) by key {} at {}",
                    p.rule_id, p.version, p.kind, p.signer_key_id, p.signed_at
                ),
                Err(e) => println!("signature:   {e}"),
            }
            if trusted.is_empty() {
                println!("admitted:    unknown (give --trusted-key)");
                return Ok(false);
            }
            match admit(&rule, &bytes, &envelope, &trusted, &replace_builtins) {
                Ok(_) => {
                    println!("admitted:    yes");
                    Ok(true)
                }
                Err(why) => {
                    println!("admitted:    no: {why}");
                    Ok(false)
                }
            }
        }
    }
}

/// Admission as the operator does it (`crate::rules::admission`), with
/// the builtins loaded so that a rule replacing one is refused the same way.
fn admit(
    rule: &Path,
    bytes: &[u8],
    envelope: &[u8],
    trusted: &[ed25519_dalek::VerifyingKey],
    replace_builtins: &[String],
) -> Result<Admitted, String> {
    let analyzer =
        Analyzer::with_builtin_rules(EngineConfig::default()).map_err(|e| e.to_string())?;
    let policy = AdmissionPolicy {
        trusted: trusted.to_vec(),
        replace_builtins: replace_builtins.iter().cloned().collect(),
    };
    admission::admit(
        &analyzer,
        &rule.display().to_string(),
        bytes,
        envelope,
        &policy,
    )
    .map_err(|e| format!("{e} [{}]", e.reason()))
}

fn trusted(keys: &[String]) -> anyhow::Result<Vec<ed25519_dalek::VerifyingKey>> {
    keys.iter()
        .map(|k| signing::parse_public_key(k).map_err(Into::into))
        .collect()
}

fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_COMPONENT_BYTES as u64 + 1),
        &mut bytes,
    )
    .with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.len() > MAX_COMPONENT_BYTES {
        anyhow::bail!(
            "{}: the component is larger than the limit of {MAX_COMPONENT_BYTES} bytes (a ConfigMap holds about 1 MiB); build it in release mode with opt-level \"s\" and strip it",
            path.display()
        );
    }
    Ok(bytes)
}

fn read_envelope(path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(crate::cli::read_input(path, MAX_ENVELOPE_BYTES as u64)?.into_bytes())
}

fn load(path: &Path, bytes: &[u8]) -> anyhow::Result<LoadedRule> {
    let engine = RuleEngine::new(EngineConfig::default())?;
    engine
        .load(&path.display().to_string(), bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn metadata(l: &LoadedRule) -> SignedRule {
    SignedRule::describing(
        &l.id,
        &l.version,
        kind_name(l.kind),
        &l.abi_version.to_string(),
    )
}

fn sig_path(rule: &Path) -> PathBuf {
    let mut s = rule.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The manifest `rules configmap` prints: the ConfigMap carrying `rule`
/// and its `signature`, after checking that the signature is for these
/// bytes.
///
/// # Errors
/// Unreadable files, a malformed envelope, a signature for other bytes, or
/// a component that cannot fit in a ConfigMap.
pub fn configmap_yaml(
    rule: &Path,
    signature: &Path,
    name: &str,
    namespace: &str,
    selector: &str,
) -> anyhow::Result<String> {
    let bytes = read_component(rule)?;
    let envelope = read_envelope(signature)?;
    let (signed, _, _) =
        signing::read_payload(&envelope).with_context(|| format!("{}", signature.display()))?;
    let actual = signing::digest(&bytes);
    if actual != signed.sha256 {
        anyhow::bail!(
            "{} is not the component {} signs (SHA-256 {actual}, signed {}); give the component and its own .sig",
            rule.display(),
            signature.display(),
            signed.sha256
        );
    }
    let cm = configmap::manifest(name, namespace, selector, &bytes, &envelope, &signed)?;
    Ok(serde_yaml::to_string(&cm)?)
}

enum Outcome {
    Findings(Vec<Finding>),
    Forecast(Box<Forecast>),
}

/// The workloads of a snapshot file, or of the embedded demo.
fn read_snapshot(path: Option<&Path>) -> anyhow::Result<Vec<Arc<WorkloadSnapshot>>> {
    let (source, text) = match path {
        None => (
            "embedded demo snapshot".to_string(),
            crate::cli::demo::DEMO_SNAPSHOT_JSON.to_string(),
        ),
        Some(p) => (
            p.display().to_string(),
            crate::cli::read_input(p, stepscale_hpa::limits::MAX_SNAPSHOT_BYTES)?,
        ),
    };
    let snapshot = Snapshot::from_json(&text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    Ok(snapshot.workloads.into_iter().map(Arc::new).collect())
}

/// The demo's first workload with every series linearly interpolated to a
/// 1-minute step: a real 7-day history at the resolution the bench asks for.
fn bench_workload() -> anyhow::Result<WorkloadSnapshot> {
    let mut w = read_snapshot(None)?
        .into_iter()
        .next()
        .map(Arc::unwrap_or_clone)
        .ok_or_else(|| anyhow::anyhow!("the demo snapshot has no workload"))?;
    let factor = (w.history.step_seconds / 60).max(1) as usize;
    let fine = |v: &[f64]| -> Vec<f64> {
        (0..v.len() * factor)
            .map(|i| {
                let (k, f) = (i / factor, (i % factor) as f64 / factor as f64);
                let next = v.get(k + 1).copied().unwrap_or(v[k]);
                v[k] + (next - v[k]) * f
            })
            .collect()
    };
    let h = &mut w.history;
    h.cpu_utilization = fine(&h.cpu_utilization);
    h.replicas_desired = fine(&h.replicas_desired);
    h.replicas_current = fine(&h.replicas_current);
    h.replicas_ready = h.replicas_ready.as_deref().map(fine);
    h.request_rate = h.request_rate.as_deref().map(fine);
    h.step_seconds = 60;
    Ok(w)
}

/// `NAME=VALUE` with a finite number (also the tail of `analyze --param`).
pub(crate) fn parse_param(s: &str) -> Result<(String, f64), String> {
    let (name, value) = s
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    let value = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{value:?} is not a finite number"))?;
    Ok((name.to_string(), value))
}
