//! Engine integration tests. Modules: `admission` (signed hostile rule
//! ConfigMaps through the operator's admission), `cache` (precompiled components),
//! `containment` (hostile rules are
//! stopped, others still report), `demo` (the embedded demo snapshot is
//! derived from the real series), `eval` (the evaluation harness), `params` (rule parameters and
//! ABI 0.1.x compatibility), `stopping` (the search's early stops change
//! nothing it reports), `timezone` (rules see the history zone's local time).
//! New engine tests go in a module here.
mod admission;
mod cache;
mod containment;
mod demo;
mod eval;
mod params;
mod stopping;
mod timezone;
