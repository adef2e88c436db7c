//! Sandbox benchmarks, each with its baseline in the same run:
//! - `skill/compile` vs `skill/cached_call`: first compile of a trivial skill
//!   vs instantiate + call of the prepared one (target: cached call < 50 µs);
//! - `loop/metered` vs `loop/unmetered`: the same compute-bound loop on this
//!   sandbox's engine (fuel + epochs) and on a plain wasmtime engine
//!   (target: fuel overhead < 2×);
//! - `calibration/fuel_per_second`: throughput in fuel units per second of the
//!   reference loop, the measurement behind the governed
//!   `sandbox_fuel_per_second` parameter.
//!
//! Run: `cargo bench -p ippoc-sandbox --bench sandbox`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ippoc_sandbox::{Capabilities, DryRun, ModuleCache, RunLimits, Sandbox, SandboxConfig};

const ECHO: &str = include_str!("../../examples/skills/echo.wat");

/// Sums 0..n with a little arithmetic per step: compute-bound, no memory traffic.
const LOOP: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param $ptr i32) (param $len i32) (result i64)
    (local $i i64) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $i) (i64.const 3))))
      (local.set $acc (i64.xor (local.get $acc) (i64.shr_u (local.get $acc) (i64.const 7))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 2000000))))
    (i64.and (local.get $acc) (i64.const 0))))"#;

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32])).unwrap()
}

fn limits() -> RunLimits {
    RunLimits {
        fuel: u64::MAX / 4,
        wall_ms: 60_000,
        ..RunLimits::default()
    }
}

fn skill(c: &mut Criterion) {
    let sb = sandbox();
    let caps = Capabilities::new();
    let meter = DryRun { fuel_budget: u64::MAX };
    let mut g = c.benchmark_group("skill");
    g.bench_function("compile", |b| b.iter(|| sb.prepare(ECHO.as_bytes(), &caps).unwrap()));
    let prepared = sb.prepare(ECHO.as_bytes(), &caps).unwrap();
    g.bench_function("cached_call", |b| {
        b.iter(|| sb.run(&prepared, b"ping", &limits(), &meter).unwrap())
    });
    g.finish();
}

fn looped(c: &mut Criterion) {
    let sb = sandbox();
    let meter = DryRun { fuel_budget: u64::MAX };
    let metered = sb.prepare(LOOP.as_bytes(), &Capabilities::new()).unwrap();
    let fuel = sb.run(&metered, b"", &limits(), &meter).unwrap().fuel_used;

    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, wat::parse_str(LOOP).unwrap()).unwrap();
    let linker = wasmtime::Linker::<()>::new(&engine);
    let pre = linker.instantiate_pre(&module).unwrap();

    let mut g = c.benchmark_group("loop");
    g.sample_size(20);
    g.bench_function("metered", |b| {
        b.iter(|| sb.run(&metered, b"", &limits(), &meter).unwrap())
    });
    g.bench_function("unmetered", |b| {
        b.iter(|| {
            let mut store = wasmtime::Store::new(&engine, ());
            let instance = pre.instantiate(&mut store).unwrap();
            let run = instance.get_typed_func::<(i32, i32), i64>(&mut store, "run").unwrap();
            run.call(&mut store, (0, 0)).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("calibration");
    g.sample_size(20);
    g.throughput(Throughput::Elements(fuel));
    g.bench_function("fuel_per_second", |b| {
        b.iter(|| sb.run(&metered, b"", &limits(), &meter).unwrap())
    });
    g.finish();
}

criterion_group!(benches, skill, looped);
criterion_main!(benches);
