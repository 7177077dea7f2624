//! Which IANA time zone a workload's predictive schedule is in: the
//! autoscaler's `stepscale.io/timezone` annotation, else the zone its
//! namespace is given in the values (`forecasting.namespaceTimezones`),
//! else `forecasting.timezone` (default `UTC`).
//!
//! Zones are read from the tz database (`$ZONEINFO`, else
//! `/usr/share/zoneinfo`; the image ships one). An annotation naming a zone
//! that does not load is skipped with a warning (the next level applies),
//! so a typo never stops the analysis; the zone in use is always written in
//! the schedule.

use std::collections::BTreeMap;

use stepscale_hpa::tz::TimeZone;

/// Annotation on an HPA or ScaledObject naming its IANA time zone.
pub const TIMEZONE_ANNOTATION: &str = "stepscale.io/timezone";
/// The zone when nothing else is set.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// The configured zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimezoneConfig {
    /// `forecasting.timezone`.
    pub default: String,
    /// `forecasting.namespaceTimezones`: namespace → zone.
    pub by_namespace: BTreeMap<String, String>,
}

impl Default for TimezoneConfig {
    fn default() -> Self {
        TimezoneConfig {
            default: DEFAULT_TIMEZONE.into(),
            by_namespace: BTreeMap::new(),
        }
    }
}

impl TimezoneConfig {
    /// Check that every configured zone loads.
    ///
    /// # Errors
    /// The values path of the first zone that does not, and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        TimeZone::load(&self.default)
            .map_err(|e| ("forecasting.timezone".to_string(), e.to_string()))?;
        for (ns, zone) in &self.by_namespace {
            TimeZone::load(zone).map_err(|e| {
                (
                    format!("forecasting.namespaceTimezones.{ns}"),
                    e.to_string(),
                )
            })?;
        }
        Ok(())
    }

    /// The zone for an autoscaler in `namespace` with `annotations`, and a
    /// warning when its annotation names a zone that does not load.
    pub fn zone_for(
        &self,
        namespace: &str,
        annotations: &BTreeMap<String, String>,
    ) -> (String, Option<String>) {
        let fallback = self
            .by_namespace
            .get(namespace)
            .unwrap_or(&self.default)
            .clone();
        match annotations.get(TIMEZONE_ANNOTATION).map(|s| s.trim()) {
            None | Some("") => (fallback, None),
            Some(zone) => match TimeZone::load(zone) {
                Ok(_) => (zone.to_string(), None),
                Err(e) => {
                    let warning = format!(
                        "annotation {TIMEZONE_ANNOTATION}: {e}; using {fallback} instead (fix the annotation to an IANA name such as Europe/Berlin)"
                    );
                    (fallback, Some(warning))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TimezoneConfig {
        TimezoneConfig {
            default: "UTC".into(),
            by_namespace: BTreeMap::from([("shop".into(), "Europe/Berlin".into())]),
        }
    }

    #[test]
    fn the_annotation_wins_then_the_namespace_then_the_default() {
        let c = config();
        let ann = BTreeMap::from([(
            TIMEZONE_ANNOTATION.to_string(),
            "America/New_York".to_string(),
        )]);
        assert_eq!(c.zone_for("shop", &ann).0, "America/New_York");
        assert_eq!(c.zone_for("shop", &BTreeMap::new()).0, "Europe/Berlin");
        assert_eq!(c.zone_for("web", &BTreeMap::new()).0, "UTC");
    }

    #[test]
    fn a_bad_annotation_falls_back_with_a_warning_that_says_what_to_fix() {
        let ann = BTreeMap::from([(TIMEZONE_ANNOTATION.to_string(), "Berlin".to_string())]);
        let (zone, warning) = config().zone_for("shop", &ann);
        assert_eq!(zone, "Europe/Berlin");
        let w = warning.expect("a warning");
        assert!(w.contains("Berlin") && w.contains("IANA"), "{w}");
    }

    #[test]
    fn an_unknown_configured_zone_is_refused_naming_the_value() {
        let mut c = config();
        c.by_namespace.insert("web".into(), "Mars/Olympus".into());
        let (field, why) = c.validate().expect_err("unknown zone");
        assert_eq!(field, "forecasting.namespaceTimezones.web");
        assert!(why.contains("Mars/Olympus"), "{why}");
        assert!(config().validate().is_ok());
    }
}
