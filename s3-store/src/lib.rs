//! Marrow's chunk store on S3-compatible object storage (`--store
//! s3://BUCKET/PREFIX`): the same tree as a local store
//! (`image_format::store::names`) under a prefix of a bucket, so a site
//! that outgrows one disk keeps its store in a cluster (Garage, MinIO,
//! AWS).
//!
//! Requests are signed by `rusty-s3` (AWS Signature V4, presigned URLs,
//! sans-I/O) and sent by `ureq`, blocking, as the store traits are. What
//! this crate does not do: hold a lock in the bucket. S3 has no lock, so
//! gc's exclusive hold and the serialised writes of a name's history are
//! file locks in a local folder: one server (one data directory) owns a
//! bucket prefix, and the CLI on that server shares its locks.

#![forbid(unsafe_code)]

mod client;
mod error;
mod settings;
mod store;

pub use error::S3Error;
pub use settings::{Partial, S3Location, S3Settings};
pub use store::{S3Lock, S3Store};
