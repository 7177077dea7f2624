//! Engine integration tests. Modules: `containment` (hostile rules are
//! stopped, others still report). New engine tests go in a module here.
mod containment;
