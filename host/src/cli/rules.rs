//! `stepscale rules keygen|sign|verify|inspect`: the rule author's signing
//! path (see `crate::rules::signing` for the key and envelope formats).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use stepscale_engine::{EngineConfig, LoadedRule, RuleEngine, RuleKind};

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
        } => {
            let trusted = trusted(&trusted_keys)?;
            let bytes = read_component(&rule)?;
            let envelope = read_envelope(&signature)?;
            match admit(&rule, &bytes, &envelope, &trusted) {
                Ok((signed, _)) => {
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
        RulesCommand::Inspect {
            rule,
            signature,
            trusted_keys,
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
            match admit(&rule, &bytes, &envelope, &trusted) {
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

/// The operator's admission order: envelope, signer, signature, size and
/// digest first; only then is the component compiled, and what it says
/// about itself compared with what was signed.
fn admit(
    rule: &Path,
    bytes: &[u8],
    envelope: &[u8],
    trusted: &[ed25519_dalek::VerifyingKey],
) -> Result<(SignedRule, LoadedRule), String> {
    let signed = signing::verify_envelope(bytes, envelope, trusted).map_err(|e| e.to_string())?;
    let loaded = load(rule, bytes).map_err(|e| format!("{e:#}"))?;
    signing::check_metadata(
        &signed,
        &loaded.id,
        &loaded.version,
        kind_name(loaded.kind),
        &loaded.abi_version.to_string(),
    )
    .map_err(|e| e.to_string())?;
    Ok((signed, loaded))
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
    let mut engine = RuleEngine::new(EngineConfig::default())?;
    engine
        .load(&path.display().to_string(), bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn metadata(l: &LoadedRule) -> SignedRule {
    SignedRule {
        rule_id: l.id.clone(),
        version: l.version.clone(),
        kind: kind_name(l.kind).to_string(),
        abi_version: l.abi_version.to_string(),
        sha256: String::new(),
        size: 0,
        signer_key_id: String::new(),
        signed_at: String::new(),
    }
}

fn kind_name(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Detector => "detector",
        RuleKind::Forecaster => "forecaster",
    }
}

fn sig_path(rule: &Path) -> PathBuf {
    let mut s = rule.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}
