//! The stepscale host: the `stepscale` CLI and operator. Modules follow the
//! data: snapshot / cluster IO → engine → recommendation → apply/verify.
#![deny(missing_docs)]

pub mod builtin;
