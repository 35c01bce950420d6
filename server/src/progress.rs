//! Progress bars that draw on a terminal and stay silent in a pipe.
