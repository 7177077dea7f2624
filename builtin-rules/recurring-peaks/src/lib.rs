//! recurring-peaks (in progress).
