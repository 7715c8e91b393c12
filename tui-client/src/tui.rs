//! The terminal UI: state, update, view, and the network task.
