//! Offline license verification (to be implemented): a signed license file
//! verified against `license.publicKey` (ed25519). No phone-home, ever.
//! Without a valid or in-grace license the operator runs analysis-only.

/// The license state the operator acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseState {
    /// Valid and not expired: apply is allowed.
    Licensed,
    /// Expired but within the grace period: apply is allowed, with warnings.
    Grace {
        /// Days of grace left.
        days_left: u32,
    },
    /// No valid license: analysis only; approved recommendations are blocked.
    Unlicensed {
        /// Why, for the recommendation's status detail.
        reason: String,
    },
}

impl LicenseState {
    /// True when the operator may apply approved recommendations.
    pub fn allows_apply(&self) -> bool {
        !matches!(self, LicenseState::Unlicensed { .. })
    }
}
