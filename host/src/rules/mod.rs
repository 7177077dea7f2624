//! Rules that users bring: signing keys, the signature envelope that binds a
//! component's bytes to its metadata, and the checks made before a byte of a
//! signed rule runs. (Loading from ConfigMaps builds on this.)

pub mod signing;
