//! forecaster (in progress).
