//! Admin suite: every admin endpoint over a real socket, success and error paths.
