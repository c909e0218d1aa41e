//! `now()`: time as an effect.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};

/// The clock primitive.
#[doc = include_str!("docs/now.md")]
pub struct Now;

/// `now()` takes no arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowParams {}

/// The time, in the forms scripts need.
#[derive(Debug, Serialize)]
pub struct NowOutput {
    pub unix: i64,
    pub unix_ms: i64,
    pub iso: String,
    pub date: String,
    pub stamp: String,
}

impl NowOutput {
    pub fn at(time: SystemTime) -> NowOutput {
        let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let iso = crate::base::time::rfc3339(time);
        let seconds = humantime::format_rfc3339_seconds(time).to_string();
        let stamp: String = seconds.chars().filter(|c| c.is_ascii_digit() || *c == 'T' || *c == 'Z').collect();
        NowOutput {
            unix: since_epoch.as_secs() as i64,
            unix_ms: since_epoch.as_millis() as i64,
            date: iso.chars().take(10).collect(),
            iso,
            stamp,
        }
    }
}

impl Primitive for Now {
    type Params = NowParams;
    type Output = NowOutput;

    fn name(&self) -> &'static str {
        "now"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/now.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Read
    }

    fn live(&self, _params: &NowParams, _context: &EffectContext) -> Result<NowOutput, EffectError> {
        Ok(NowOutput::at(SystemTime::now()))
    }

    fn plan(&self, _params: &NowParams, _context: &EffectContext) -> Result<NowOutput, EffectError> {
        Ok(NowOutput::at(SystemTime::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_known_instant() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_919_235_123);
        let now = NowOutput::at(time);
        assert_eq!(now.iso, "2026-11-29T02:27:15.123Z");
        assert_eq!(now.date, "2026-11-29");
        assert_eq!(now.stamp, "20261129T022715Z");
        assert_eq!(now.unix, 1_795_919_235);
    }
}
