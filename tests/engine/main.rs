//! Engine integration tests. Modules: `cache` (precompiled components),
//! `containment` (hostile rules are
//! stopped, others still report), `demo` (the embedded demo snapshot is
//! derived from the real series), `eval` (the evaluation harness). New engine tests go in a module here.
mod cache;
mod containment;
mod demo;
mod eval;
