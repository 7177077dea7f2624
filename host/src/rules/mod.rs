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
