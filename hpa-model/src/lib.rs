//! HPA model (placeholder).
