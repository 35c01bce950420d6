//! End-to-end scenarios, one test binary.
