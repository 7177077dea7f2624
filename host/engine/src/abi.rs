//! The ABI version check: which `stepscale:rules` version a component was
//! built for, and whether this host can run it.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The WIT package of the rule ABI.
pub const ABI_PACKAGE: &str = "stepscale:rules";
/// The ABI version this host serves (`wit/rules.wit`).
pub const ABI_VERSION: Version = Version {
    major: 0,
    minor: 1,
    patch: 1,
};

/// Functions of the `workload` interface this host serves.
pub const WORKLOAD_FUNCTIONS: &[&str] = &[
    "target",
    "config",
    "containers",
    "series",
    "cpu-utilization",
    "replicas-desired",
    "replicas-current",
    "replicas-ready",
    "request-rate",
    "log",
    // Since 0.1.1.
    "param",
];

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// Parse `x.y.z`.
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = Version {
            major: it.next()??,
            minor: it.next()??,
            patch: it.next()??,
        };
        it.next().is_none().then_some(v)
    }

    /// True when a component built for `self` runs on a host serving `host`:
    /// same series (`major`, and `minor` while `major` is 0) and not newer.
    pub fn runs_on(self, host: Version) -> bool {
        let same_series = if host.major == 0 {
            self.major == 0 && self.minor == host.minor
        } else {
            self.major == host.major
        };
        same_series && self <= host
    }

    /// The series this version belongs to, for messages (`0.1.x`, `1.x`).
    pub fn series(self) -> String {
        if self.major == 0 {
            format!("0.{}.x", self.minor)
        } else {
            format!("{}.x", self.major)
        }
    }
}

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleKind {
    /// Exports `stepscale:rules/detection`.
    Detector,
    /// Exports `stepscale:rules/forecasting`.
    Forecaster,
}

/// What a component says about itself through its import and export names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiFacts {
    /// The world it implements.
    pub kind: RuleKind,
    /// The ABI version it was built for.
    pub version: Version,
}

/// Why a component does not fit this host's ABI. Messages name the versions
/// and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// Exports neither `detection` nor `forecasting`.
    #[error("is not a stepscale rule: it exports neither {ABI_PACKAGE}/detection nor {ABI_PACKAGE}/forecasting; build it with stepscale-rules-sdk and `export_detector!` or `export_forecaster!`")]
    NotARule,
    /// Built for another ABI series or a newer version.
    #[error("built for {ABI_PACKAGE}@{found}, this host supports {}; rebuild it with stepscale-rules-sdk {}", ABI_VERSION.series(), ABI_VERSION.series())]
    Incompatible {
        /// The version the component names.
        found: String,
    },
    /// Imports something from the package the host does not serve.
    #[error("imports {name}, which {ABI_PACKAGE}@{ABI_VERSION} does not have; rebuild it with stepscale-rules-sdk {}", ABI_VERSION.series())]
    UnknownImport {
        /// The import.
        name: String,
    },
}

fn package_item(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(ABI_PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

fn version_of(raw: &str) -> Result<Version, AbiError> {
    let v = Version::parse(raw).ok_or_else(|| AbiError::Incompatible {
        found: if raw.is_empty() {
            "an unversioned package".into()
        } else {
            raw.into()
        },
    })?;
    if v.runs_on(ABI_VERSION) {
        Ok(v)
    } else {
        Err(AbiError::Incompatible {
            found: v.to_string(),
        })
    }
}

/// Read the world and ABI version of `component` and check that this host
/// serves everything it imports from `stepscale:rules`.
///
/// # Errors
/// - [`AbiError::NotARule`]: no rule export;
/// - [`AbiError::Incompatible`]: a `stepscale:rules` name of another series,
///   a newer version, or no version;
/// - [`AbiError::UnknownImport`]: an interface or function the host lacks.
pub fn inspect(engine: &Engine, component: &Component) -> Result<AbiFacts, AbiError> {
    let ty = component.component_type();
    let mut found: Option<AbiFacts> = None;
    for (name, _) in ty.exports(engine) {
        let Some((item, raw)) = package_item(name) else {
            continue;
        };
        let kind = match item {
            "detection" => RuleKind::Detector,
            "forecasting" => RuleKind::Forecaster,
            _ => continue,
        };
        let version = version_of(raw)?;
        found = Some(AbiFacts { kind, version });
    }
    let facts = found.ok_or(AbiError::NotARule)?;
    for (name, item) in ty.imports(engine) {
        let Some((iface, raw)) = package_item(name) else {
            continue;
        };
        version_of(raw)?;
        match (iface, item.ty) {
            ("types", _) => {}
            ("workload", ComponentItem::ComponentInstance(inst)) => {
                for (func, item) in inst.exports(engine) {
                    let is_func = matches!(item.ty, ComponentItem::ComponentFunc(_));
                    if is_func && !WORKLOAD_FUNCTIONS.contains(&func) {
                        return Err(AbiError::UnknownImport {
                            name: format!("{name}#{func}"),
                        });
                    }
                }
            }
            _ => {
                return Err(AbiError::UnknownImport {
                    name: name.to_string(),
                })
            }
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version in test")
    }

    #[test]
    fn older_patch_of_the_same_series_runs() {
        assert!(v("0.1.0").runs_on(v("0.1.3")));
    }

    #[test]
    fn newer_patch_than_the_host_is_refused() {
        assert!(!v("0.1.4").runs_on(v("0.1.3")));
    }

    #[test]
    fn another_zero_minor_series_is_refused() {
        assert!(!v("0.2.0").runs_on(v("0.1.0")));
        assert!(!v("0.0.9").runs_on(v("0.1.0")));
    }

    #[test]
    fn after_1_0_minor_versions_are_compatible() {
        assert!(v("1.0.0").runs_on(v("1.2.0")));
        assert!(!v("2.0.0").runs_on(v("1.2.0")));
    }

    #[test]
    fn malformed_versions_do_not_parse() {
        assert_eq!(Version::parse("0.1"), None);
        assert_eq!(Version::parse("0.1.0.1"), None);
        assert_eq!(Version::parse("a.b.c"), None);
    }
}
