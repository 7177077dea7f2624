//! The precompiled-component cache: a second engine loads from it, and a
//! damaged cache file is ignored (recompiled), never trusted.

use stepscale_engine::{EngineConfig, RuleEngine};

fn temp_cache(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "stepscale-cache-test-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn builtin(name: &str) -> &'static [u8] {
    stepscale_operator::builtin::COMPONENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("builtin {name} not embedded"))
}

#[test]
fn a_second_engine_loads_the_rule_from_the_cache() {
    let dir = temp_cache("hit");
    let bytes = builtin("stepscale-rule-thrashing");
    let mut first =
        RuleEngine::new(EngineConfig::default().with_cache_dir(Some(dir.clone()))).expect("engine");
    assert!(!first.load("thrashing", bytes).expect("loads").from_cache);
    let mut second =
        RuleEngine::new(EngineConfig::default().with_cache_dir(Some(dir.clone()))).expect("engine");
    let rule = second.load("thrashing", bytes).expect("loads");
    assert!(rule.from_cache);
    assert_eq!(rule.id, "thrashing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_cache_file_is_recompiled_not_loaded() {
    let dir = temp_cache("damaged");
    let bytes = builtin("stepscale-rule-scale-lag");
    let mut first =
        RuleEngine::new(EngineConfig::default().with_cache_dir(Some(dir.clone()))).expect("engine");
    first.load("scale-lag", bytes).expect("loads");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(files.len(), 1, "one artifact per component");
    std::fs::write(files[0].path(), b"definitely not a precompiled component").expect("overwrite");
    let mut second =
        RuleEngine::new(EngineConfig::default().with_cache_dir(Some(dir.clone()))).expect("engine");
    let rule = second.load("scale-lag", bytes).expect("recompiles");
    assert!(!rule.from_cache);
    assert_eq!(rule.id, "scale-lag");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_cache("open");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut engine =
        RuleEngine::new(EngineConfig::default().with_cache_dir(Some(dir.clone()))).expect("engine");
    let bytes = builtin("stepscale-rule-thrashing");
    engine
        .load("thrashing", bytes)
        .expect("still loads, compiled in memory");
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        0,
        "nothing may be written to it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
