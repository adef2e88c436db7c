//! The example skills in examples/skills run as documented.

use ippoc_sandbox::{Capabilities, Capability, DryRun, ModuleCache, RunLimits, Sandbox, SandboxConfig};

fn example(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../examples/skills/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_example_skills_do_what_their_comments_say() {
    let sb = Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32])).unwrap();
    let meter = DryRun { fuel_budget: u64::MAX };
    let none = Capabilities::new();
    let echo = sb
        .run_module(&example("echo.wat"), &none, b"abc", &RunLimits::default(), &meter)
        .unwrap();
    assert_eq!(echo.output, b"abc");
    let mut log = Capabilities::new();
    log.insert(Capability::Log);
    let upper = sb
        .run_module(
            &example("upper.wat"),
            &log,
            b"hello, World",
            &RunLimits::default(),
            &meter,
        )
        .unwrap();
    assert_eq!(upper.output, b"HELLO, WORLD");
    assert_eq!(upper.log, b"upper ran");
}
