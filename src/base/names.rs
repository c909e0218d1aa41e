//! Names that reach a program's argument vector or an API path, validated for their kind.
