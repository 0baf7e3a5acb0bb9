//! Example firmware application logic.
