//! Sans-I/O protocol code shared by the server and the client.

#![forbid(unsafe_code)]
