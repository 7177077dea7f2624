//! `stepscale license inspect FILE --public-key KEY`: verify a license file
//! offline and print its state and, once the signature verifies, its terms.
//! Nothing from an unverified file is printed. There is deliberately no
//! `license sign` here: licenses are signed by the vendor's offline tooling.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use stepscale_hpa::limits::printable;

use crate::license::{self, LicenseError, LicenseState, ENV_LICENSE_PUBLIC_KEY};

/// Arguments of `license`.
#[derive(Debug, Args)]
pub struct LicenseArgs {
    /// What to do with a license.
    #[command(subcommand)]
    pub command: LicenseCommand,
}

/// The `license` subcommands.
#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Verify a license file against the public key and print its state
    /// (licensed, grace, unlicensed) and terms; exit 1 when it does not
    /// allow apply.
    Inspect(InspectArgs),
}

/// Arguments of `license inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The license file (JSON, `stepscale-license/v1`).
    pub file: PathBuf,
    /// The ed25519 public key, base64 of its 32 bytes (Helm value
    /// `license.publicKey`).
    #[arg(long, env = ENV_LICENSE_PUBLIC_KEY, hide_env_values = true)]
    pub public_key: String,
}

/// Run `license …`. Returns whether the license allows apply.
///
/// # Errors
/// The file cannot be read, or the public key is not a valid ed25519 key
/// (bad usage: exit status 2).
pub fn run(args: LicenseArgs) -> anyhow::Result<bool> {
    match args.command {
        LicenseCommand::Inspect(a) => inspect(&a),
    }
}

fn inspect(args: &InspectArgs) -> anyhow::Result<bool> {
    // Bad usage (a wrong key, an unreadable file) fails before anything is
    // printed.
    license::parse_public_key(&args.public_key)?;
    let text = super::read_input(&args.file, stepscale_hpa::limits::MAX_LICENSE_BYTES)
        .context("cannot read the license file")?;
    let bytes = text.as_bytes();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    println!("file:      {}", args.file.display());
    let (state, verified) = match license::verify(bytes, &args.public_key) {
        Ok(l) => (l.state_at(now), Some(l)),
        Err(e @ LicenseError::PublicKey(_)) => return Err(e.into()),
        Err(e) => (
            LicenseState::Unlicensed {
                reason: e.to_string(),
            },
            None,
        ),
    };
    println!("state:     {state}");
    if let Some(l) = verified {
        println!("licensee:  {}", printable(&l.licensee, 200));
        println!("issued:    {}", timestamp(l.issued_unix_seconds));
        println!("expires:   {}", timestamp(l.expires_unix_seconds));
        println!("grace:     {} day(s)", l.grace_days);
        println!("features:  {}", printable(&l.features.join(", "), 500));
    }
    println!(
        "apply:     {}",
        if state.allows_apply() {
            "allowed"
        } else {
            "blocked (analysis only)"
        }
    );
    Ok(state.allows_apply())
}

/// RFC 3339 in UTC.
fn timestamp(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| license::date(unix_seconds))
}
