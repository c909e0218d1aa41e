//! Wall-clock helpers: RFC 3339 timestamps for journals and durations as people write
//! them ("5m", "90s", "1h 30m").

use std::time::{Duration, SystemTime};

/// RFC 3339 with milliseconds, UTC: `2026-11-24T02:27:15.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// The current time as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// How a duration is written, for errors.
pub const DURATION_FORM: &str = "a duration such as 30s, 5m or 1h 30m (a bare number is seconds)";

/// The longest duration shipctl takes: a year. Longer ones are mistakes, and far
/// longer ones would overflow a deadline computed from now.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `duration`, unless it is longer than [`MAX_DURATION`]; `written` is how it was given.
pub fn bounded(duration: Duration, written: &dyn std::fmt::Debug) -> Result<Duration, String> {
    if duration > MAX_DURATION {
        return Err(format!("{DURATION_FORM}, at most a year (8760h); got {written:?}"));
    }
    Ok(duration)
}

/// Parse "5m", "90s", "1h 30m", "250ms". A bare number is seconds. A negative,
/// malformed or longer than a year duration is refused in words.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return bounded(Duration::from_secs(seconds), &trimmed);
    }
    if trimmed.starts_with('-') {
        return Err(format!("{DURATION_FORM}; got {trimmed:?}, which is negative"));
    }
    let duration =
        humantime::parse_duration(trimmed).map_err(|error| format!("{DURATION_FORM}; got {trimmed:?} ({error})"))?;
    bounded(duration, &trimmed)
}

/// "1.2s", "350ms", "2m 5s": short, for people.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    if millis < 60_000 {
        return format!("{:.1}s", duration.as_secs_f64());
    }
    let seconds = duration.as_secs();
    format!("{}m {}s", seconds / 60, seconds % 60)
}

/// Serde support for durations written as strings ("5m") or integers (seconds).
pub mod serde_duration {
    use serde::{Deserializer, Serializer, de};
    use std::fmt;
    use std::time::Duration;

    /// Reads a string ("5m") or a number of seconds; anything else, a negative number
    /// among it, is an error that says what a duration looks like (not serde's
    /// "data did not match any variant").
    struct Written;

    impl de::Visitor<'_> for Written {
        type Value = Duration;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str(super::DURATION_FORM)
        }

        fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
            super::bounded(Duration::from_secs(seconds), &seconds).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
            u64::try_from(seconds)
                .map(Duration::from_secs)
                .map_err(|_| E::custom(format!("{}; got {seconds}, which is negative", super::DURATION_FORM)))
        }

        fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
            if seconds < 0.0 {
                return Err(E::custom(format!("{}; got {seconds}, which is negative", super::DURATION_FORM)));
            }
            let duration = Duration::try_from_secs_f64(seconds)
                .map_err(|_| E::custom(format!("{}; got {seconds}", super::DURATION_FORM)))?;
            super::bounded(duration, &seconds).map_err(E::custom)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            super::parse_duration(text).map_err(E::custom)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(Written)
    }

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*duration).to_string())
    }

    /// The same for `Option<Duration>`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use std::time::Duration;

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapper(#[serde(with = "super")] Duration);
            Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|Wrapper(duration)| duration))
        }

        pub fn serialize<S: Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
            match duration {
                Some(duration) => super::serialize(duration, serializer),
                None => serializer.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_people_write() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        let error = parse_duration("5 minutes please").unwrap_err();
        assert!(error.contains("such as 30s"), "{error}");
        let error = parse_duration("-5s").unwrap_err();
        assert!(error.contains("got \"-5s\", which is negative"), "{error}");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Timeout {
        #[serde(default, with = "serde_duration::option")]
        timeout: Option<Duration>,
    }

    #[test]
    fn durations_in_arguments_are_refused_in_words() {
        let read =
            |value: serde_json::Value| serde_json::from_value::<Timeout>(serde_json::json!({ "timeout": value }));
        assert_eq!(read(serde_json::json!("30s")).unwrap().timeout, Some(Duration::from_secs(30)));
        assert_eq!(read(serde_json::json!(90)).unwrap().timeout, Some(Duration::from_secs(90)));
        assert_eq!(read(serde_json::json!(null)).unwrap().timeout, None);
        for bad in [serde_json::json!(-5), serde_json::json!("-5s"), serde_json::json!("soon"), serde_json::json!(true)]
        {
            let error = read(bad.clone()).unwrap_err().to_string();
            assert!(error.contains("a duration such as 30s"), "{bad}: {error}");
            assert!(!error.contains("did not match"), "{bad}: {error}");
        }
    }

    #[test]
    fn formats_short_durations() {
        assert_eq!(format_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m 5s");
    }
}
