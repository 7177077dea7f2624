//! Rules that users bring: signing keys and the signature envelope
//! ([`signing`]), the checks made before a byte of a signed rule runs
//! ([`admission`]), the ConfigMap that carries one ([`configmap`]), and the
//! operator's set of rules loaded from ConfigMaps ([`loader`]) and the
//! cluster IO that feeds it ([`sync`]).

pub mod admission;
pub mod configmap;
pub mod loader;
pub mod signing;
pub mod sync;

/// Custom rules from ConfigMaps.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    /// Label selector of the rule ConfigMaps.
    pub selector: String,
    /// Namespaces to load them from: the release namespace first.
    pub namespaces: Vec<String>,
    /// Trusted signing keys.
    pub trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// Rule ids switched off (builtin or custom).
    pub disabled: std::collections::BTreeSet<String>,
    /// Builtin rule ids a custom rule may replace.
    pub replace_builtins: std::collections::BTreeSet<String>,
    /// Numeric parameters by rule id and name.
    pub params: std::collections::BTreeMap<String, stepscale_engine::RuleParams>,
}
