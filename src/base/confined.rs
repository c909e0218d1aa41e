//! Paths from outside input, confined to the scripts root.
