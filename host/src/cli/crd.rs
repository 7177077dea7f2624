//! `stepscale crd`: print the ScalingRecommendation CRD (YAML), generated
//! from the Rust types. The chart ships the same file
//! (`charts/stepscale-autoscaler/crds/scalingrecommendation.yaml`).

use anyhow::Context;

/// Print the CRD YAML on stdout.
///
/// # Errors
/// Serialization failure (not expected).
pub fn run() -> anyhow::Result<()> {
    let yaml = crate::crd::crd_yaml().context("serializing the CRD")?;
    print!("{yaml}");
    Ok(())
}
