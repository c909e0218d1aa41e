//! Who is at the keyboard.

/// The operator: `$USER`, `$LOGNAME`, or `unknown`.
pub fn user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".to_string())
}
