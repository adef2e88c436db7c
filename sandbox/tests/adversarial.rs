//! Hostile modules: each ends with a typed error and a charge, and the same
//! sandbox then runs an honest module fine (DESIGN.md §8).

use std::sync::Mutex;

use ippoc_sandbox::{
    CacheOutcome, Capabilities, Capability, FailureKind, Meter, MeterError, ModuleCache, PrepareError, RunLimits,
    Sandbox, SandboxConfig,
};

/// A meter that records every charge.
struct Recorder {
    budget: u64,
    charges: Mutex<Vec<(u64, bool)>>,
}

impl Recorder {
    fn new(budget: u64) -> Recorder {
        Recorder {
            budget,
            charges: Mutex::new(Vec::new()),
        }
    }
    fn last(&self) -> (u64, bool) {
        *self.charges.lock().unwrap().last().expect("a charge was recorded")
    }
}

impl Meter for Recorder {
    type Receipt = usize;
    fn fuel_budget(&self) -> Result<u64, MeterError> {
        Ok(self.budget)
    }
    fn charge(&self, fuel: u64, failed: bool) -> Result<usize, MeterError> {
        let mut c = self.charges.lock().unwrap();
        c.push((fuel, failed));
        Ok(c.len())
    }
}

const ALLOC: &str = r#"
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $p))
"#;

/// A skill whose `run` body is `body` (it must leave an i64 on the stack).
fn skill(imports: &str, extra: &str, body: &str) -> Vec<u8> {
    format!("(module {imports} {ALLOC} {extra} (func (export \"run\") (param $ptr i32) (param $len i32) (result i64) {body}))")
        .into_bytes()
}

fn echo() -> Vec<u8> {
    skill(
        "",
        "",
        "(i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) (i64.extend_i32_u (local.get $len)))",
    )
}

fn sandbox() -> Sandbox {
    let config = SandboxConfig {
        memory_bytes_max: 4 << 20,
        table_elements_max: 1000,
        concurrent_runs_max: 4,
        ..SandboxConfig::default()
    };
    Sandbox::new(config, ModuleCache::new(None, [0; 32])).unwrap()
}

fn limits() -> RunLimits {
    RunLimits {
        fuel: 5_000_000,
        memory_bytes_max: 1 << 20,
        table_elements_max: 100,
        output_bytes_max: 4096,
        wall_ms: 2_000,
    }
}

fn none() -> Capabilities {
    Capabilities::new()
}

/// Runs `module`, expects `kind`, a recorded charge, and a healthy sandbox after.
fn expect_failure(sb: &Sandbox, module: &[u8], caps: &Capabilities, lim: &RunLimits, kind: FailureKind) -> u64 {
    let meter = Recorder::new(u64::MAX);
    let failure = sb
        .run_module(module, caps, b"input", lim, &meter)
        .expect_err("the hostile module must fail");
    assert_eq!(failure.kind, kind);
    assert!(failure.receipt.is_some(), "the failure was charged");
    let (fuel, failed) = meter.last();
    assert!(failed);
    assert_eq!(fuel, failure.fuel_used);
    let ok = sb
        .run_module(&echo(), &none(), b"still fine", &limits(), &meter)
        .expect("the host still works");
    assert_eq!(ok.output, b"still fine");
    fuel
}

#[test]
fn an_honest_skill_echoes_and_is_charged_the_same_fuel_every_time() {
    let sb = sandbox();
    let meter = Recorder::new(u64::MAX);
    let a = sb.run_module(&echo(), &none(), b"hello", &limits(), &meter).unwrap();
    let b = sb.run_module(&echo(), &none(), b"hello", &limits(), &meter).unwrap();
    assert_eq!(a.output, b"hello");
    assert!(a.fuel_used > 0);
    assert_eq!(a.fuel_used, b.fuel_used, "fuel is deterministic");
    assert_eq!(
        *meter.charges.lock().unwrap(),
        vec![(a.fuel_used, false), (b.fuel_used, false)]
    );
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_and_pays_for_all_of_it() {
    let sb = sandbox();
    let fuel = expect_failure(
        &sb,
        &skill("", "", "(loop (br 0)) (i64.const 0)"),
        &none(),
        &limits(),
        FailureKind::OutOfFuel,
    );
    assert_eq!(fuel, limits().fuel, "the whole ceiling was burnt and charged");
}

#[test]
fn an_infinite_loop_with_ample_fuel_is_stopped_by_the_wall_clock() {
    let sb = sandbox();
    let lim = RunLimits {
        fuel: u64::MAX / 2,
        wall_ms: 100,
        ..limits()
    };
    let fuel = expect_failure(
        &sb,
        &skill("", "", "(loop (br 0)) (i64.const 0)"),
        &none(),
        &lim,
        FailureKind::Timeout,
    );
    assert!(fuel > 0 && fuel < lim.fuel);
}

#[test]
fn the_budget_caps_the_fuel_ceiling() {
    let sb = sandbox();
    let meter = Recorder::new(1_000);
    let f = sb
        .run_module(
            &skill("", "", "(loop (br 0)) (i64.const 0)"),
            &none(),
            b"",
            &limits(),
            &meter,
        )
        .unwrap_err();
    assert_eq!(
        (f.kind, f.fuel_used),
        (FailureKind::OutOfFuel, 1_000),
        "never more than the caller can pay"
    );
    let broke = Recorder::new(0);
    let f = sb.run_module(&echo(), &none(), b"", &limits(), &broke).unwrap_err();
    assert!(matches!(f.kind, FailureKind::BudgetDenied(_)));
    assert!(broke.charges.lock().unwrap().is_empty(), "nothing ran, nothing charged");
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let sb = sandbox();
    let bomb = skill(
        "",
        "",
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (i64.const 0)",
    );
    expect_failure(&sb, &bomb, &none(), &limits(), FailureKind::MemoryLimit);
}

#[test]
fn deep_recursion_overflows_the_stack_not_the_host() {
    let sb = sandbox();
    let deep = skill(
        "",
        "(func $down (param i64) (result i64) (call $down (i64.add (local.get 0) (i64.const 1))))",
        "(call $down (i64.const 0))",
    );
    expect_failure(&sb, &deep, &none(), &limits(), FailureKind::StackOverflow);
}

#[test]
fn a_huge_table_hits_the_table_limit() {
    let sb = sandbox();
    let grow = skill(
        "",
        "(table $t 1 funcref)",
        "(drop (table.grow $t (ref.null func) (i32.const 1000000))) (i64.const 0)",
    );
    expect_failure(&sb, &grow, &none(), &limits(), FailureKind::TableLimit);
}

#[test]
fn a_huge_output_is_refused() {
    let sb = sandbox();
    let huge = skill("", "", "(i64.const 0x7fffffff)");
    expect_failure(
        &sb,
        &huge,
        &none(),
        &limits(),
        FailureKind::OutputTooLarge {
            len: 0x7fffffff,
            max: 4096,
        },
    );
}

#[test]
fn unreachable_and_out_of_bounds_access_are_typed_traps() {
    let sb = sandbox();
    expect_failure(
        &sb,
        &skill("", "", "(unreachable)"),
        &none(),
        &limits(),
        FailureKind::Unreachable,
    );
    let oob = skill("", "", "(i64.load (i32.const 0x7ffffff0))");
    expect_failure(&sb, &oob, &none(), &limits(), FailureKind::MemoryOutOfBounds);
}

#[test]
fn a_malformed_module_is_refused_and_charged_the_reject_fee() {
    let sb = sandbox();
    let meter = Recorder::new(u64::MAX);
    for junk in [
        &b"\0asm\x01\0\0\0garbage"[..],
        b"not wasm at all",
        b"(module (func $f (result i32)))",
    ] {
        let f = sb.run_module(junk, &none(), b"", &limits(), &meter).unwrap_err();
        assert!(
            matches!(f.kind, FailureKind::Rejected(PrepareError::Malformed(_))),
            "{:?}",
            f.kind
        );
        assert_eq!(
            (f.fuel_used, meter.last()),
            (sb.config().reject_fuel, (sb.config().reject_fuel, true))
        );
        assert_eq!(
            sb.run_module(&echo(), &none(), b"ok", &limits(), &meter)
                .unwrap()
                .output,
            b"ok"
        );
    }
}

#[test]
fn importing_a_host_function_not_granted_is_refused() {
    let sb = sandbox();
    let clock = skill(
        "(import \"ippoc\" \"clock_ms\" (func $now (result i64)))",
        "",
        "(call $now)",
    );
    let not_granted = FailureKind::Rejected(PrepareError::ImportNotGranted {
        module: "ippoc".into(),
        name: "clock_ms".into(),
    });
    expect_failure(&sb, &clock, &none(), &limits(), not_granted);
    let wasi = skill(
        "(import \"wasi_snapshot_preview1\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32)))",
        "",
        "(i64.const 0)",
    );
    let mut everything = Capabilities::new();
    everything.extend(Capability::ALL);
    let ambient = FailureKind::Rejected(PrepareError::ImportNotGranted {
        module: "wasi_snapshot_preview1".into(),
        name: "fd_write".into(),
    });
    expect_failure(&sb, &wasi, &everything, &limits(), ambient);
    // Granted, the same clock module runs.
    let mut clock_cap = Capabilities::new();
    clock_cap.insert(Capability::Clock);
    let meter = Recorder::new(u64::MAX);
    assert!(
        sb.run_module(&clock, &clock_cap, b"", &limits(), &meter).is_err(),
        "returns a non-ABI pointer pair"
    );
}

#[test]
fn a_trap_inside_a_host_call_is_reported_as_such() {
    let sb = sandbox();
    let mut log = Capabilities::new();
    log.insert(Capability::Log);
    let bad_log = skill(
        "(import \"ippoc\" \"log\" (func $log (param i32 i32)))",
        "",
        "(call $log (i32.const 0x7fff0000) (i32.const 100)) (i64.const 0)",
    );
    let meter = Recorder::new(u64::MAX);
    let f = sb.run_module(&bad_log, &log, b"", &limits(), &meter).unwrap_err();
    assert!(
        matches!(&f.kind, FailureKind::HostCall(m) if m.contains("outside memory")),
        "{:?}",
        f.kind
    );
    assert!(f.receipt.is_some());
    let good_log = skill(
        "(import \"ippoc\" \"log\" (func $log (param i32 i32)))",
        "",
        "(call $log (local.get $ptr) (local.get $len)) (i64.const 0)",
    );
    let ok = sb.run_module(&good_log, &log, b"hello log", &limits(), &meter).unwrap();
    assert_eq!(ok.log, b"hello log");
}

#[test]
fn many_concurrent_runs_share_the_pool_and_all_finish() {
    let sb = sandbox();
    let meter = Recorder::new(u64::MAX);
    let skill = sb.prepare(&echo(), &none()).unwrap();
    std::thread::scope(|s| {
        for i in 0..32u32 {
            let (sb, skill, meter) = (&sb, &skill, &meter);
            s.spawn(move || {
                let input = i.to_be_bytes();
                let out = sb.run(skill, &input, &limits(), meter).unwrap();
                assert_eq!(out.output, input);
            });
        }
    });
    assert_eq!(meter.charges.lock().unwrap().len(), 32);
}

#[test]
fn the_cache_serves_compiled_modules_and_rebuilds_corrupt_or_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        concurrent_runs_max: 2,
        ..SandboxConfig::default()
    };
    let sb = Sandbox::new(config, ModuleCache::new(Some(dir.path().to_path_buf()), [7; 32])).unwrap();
    let first = sb.prepare(&echo(), &none()).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Compiled);
    assert_eq!(sb.prepare(&echo(), &none()).unwrap().cache_outcome(), CacheOutcome::Hit);
    let entry = dir.path().join(format!("{}.cwasm", first.hash()));
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let rebuilt = sb.prepare(&echo(), &none()).unwrap();
    assert_eq!(
        rebuilt.cache_outcome(),
        CacheOutcome::Compiled,
        "a corrupt entry is never executed"
    );
    let meter = Recorder::new(u64::MAX);
    assert_eq!(sb.run(&rebuilt, b"x", &limits(), &meter).unwrap().output, b"x");
    // Another node's key: the entry authenticates under neither.
    let foreign = Sandbox::new(config, ModuleCache::new(Some(dir.path().to_path_buf()), [8; 32])).unwrap();
    assert_eq!(
        foreign.prepare(&echo(), &none()).unwrap().cache_outcome(),
        CacheOutcome::Compiled
    );
    assert_eq!(
        sb.prepare(&echo(), &none()).unwrap().cache_outcome(),
        CacheOutcome::Compiled
    );
}
