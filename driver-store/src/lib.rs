//! Driver packages indexed by the hardware IDs their INF files declare.

#![forbid(unsafe_code)]
