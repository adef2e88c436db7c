//! The sandbox: one wasmtime engine with fuel, epoch interruption and a
//! pooling allocator; skills linked against exactly the capabilities granted;
//! runs bounded, metered and classified.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{
    Caller, Engine, Extern, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel, PoolingAllocationConfig,
    Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::cache::{CacheOutcome, ModuleCache, ModuleHash};
use crate::error::{FailureKind, PrepareError, RunFailure};
use crate::limits::{Capabilities, Capability, LOG_BYTES_MAX, RunLimits, SandboxConfig};
use crate::meter::Meter;
use crate::metrics::SandboxMetrics;

/// Period of the epoch ticker: the granularity of the wall-clock limit.
pub const EPOCH_TICK_MS: u64 = 10;

/// Per-run host state.
struct Host {
    limits: StoreLimits,
    log: Vec<u8>,
}

/// A host function's refusal, told apart from guest traps.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HostError(String);

/// A module ready to run: compiled, linked against its capabilities.
pub struct Skill {
    hash: ModuleHash,
    pre: InstancePre<Host>,
    cache: CacheOutcome,
}

impl Skill {
    /// The module's hash.
    pub fn hash(&self) -> ModuleHash {
        self.hash
    }
    /// Whether it came from the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }
}

/// A successful run.
#[derive(Debug)]
pub struct RunReport<R> {
    /// The module.
    pub module: ModuleHash,
    /// What `run` returned.
    pub output: Vec<u8>,
    /// Fuel burnt (what was charged).
    pub fuel_used: u64,
    /// The fuel ceiling the run had.
    pub fuel_ceiling: u64,
    /// What the skill logged (if granted `log`).
    pub log: Vec<u8>,
    /// The meter's receipt.
    pub receipt: R,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Admits at most `slots` runs at once; the rest wait (the pool has that many instances).
struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// Drives epoch interruption: bumps the engine's epoch every tick.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ippoc-epoch".into())
            .spawn(move || {
                // A clock, not synchronisation: deadlines are counted in ticks.
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Why the sandbox could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the sandbox engine: {0}")]
pub struct EngineError(String);

/// The sandbox of one node (or of a whole simulation: it is `Sync`).
pub struct Sandbox {
    engine: Engine,
    cache: ModuleCache,
    config: SandboxConfig,
    slots: Slots,
    metrics: SandboxMetrics,
    _ticker: EpochTicker,
}

impl Sandbox {
    /// Builds the engine. `cache` keeps compiled modules across runs and restarts.
    pub fn new(config: SandboxConfig, cache: ModuleCache) -> Result<Sandbox, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(config.concurrent_runs_max)
            .total_memories(config.concurrent_runs_max)
            .total_tables(config.concurrent_runs_max)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(config.memory_bytes_max)
            .table_elements(config.table_elements_max);
        let mut c = wasmtime::Config::new();
        c.consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.stack_bytes)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| EngineError(e.to_string()))?;
        Ok(Sandbox {
            _ticker: EpochTicker::start(engine.clone()),
            slots: Slots {
                free: Mutex::new(config.concurrent_runs_max),
                freed: Condvar::new(),
            },
            engine,
            cache,
            config,
            metrics: SandboxMetrics::default(),
        })
    }

    /// The sandbox-wide bounds.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// What the sandbox did since it was built.
    pub fn metrics(&self) -> &SandboxMetrics {
        &self.metrics
    }

    /// Compiles (or loads from cache) and links a module given as WebAssembly
    /// binary or text, granting exactly `capabilities`.
    pub fn prepare(&self, module: &[u8], capabilities: &Capabilities) -> Result<Skill, PrepareError> {
        if module.len() > self.config.module_bytes_max {
            return Err(PrepareError::TooLarge {
                len: module.len(),
                max: self.config.module_bytes_max,
            });
        }
        let wasm = wat::parse_bytes(module).map_err(|e| PrepareError::Malformed(e.to_string()))?;
        let hash = ModuleHash::of(&wasm);
        let (compiled, cache) = match self.cache.load(&self.engine, &hash) {
            Some(m) => (m, CacheOutcome::Hit),
            None => {
                let m =
                    Module::from_binary(&self.engine, &wasm).map_err(|e| PrepareError::Malformed(format!("{e:#}")))?;
                self.cache.store(&hash, &m);
                (m, CacheOutcome::Compiled)
            }
        };
        self.metrics.prepared(cache);
        for import in compiled.imports() {
            let granted = import.module() == "ippoc" && capabilities.iter().any(|c| c.import_name() == import.name());
            if !granted {
                return Err(PrepareError::ImportNotGranted {
                    module: import.module().to_string(),
                    name: import.name().to_string(),
                });
            }
        }
        check_abi(&compiled)?;
        let linker = self
            .linker(capabilities)
            .map_err(|e| PrepareError::Abi(e.to_string()))?;
        let pre = linker
            .instantiate_pre(&compiled)
            .map_err(|e| PrepareError::Abi(format!("{e:#}")))?;
        Ok(Skill { hash, pre, cache })
    }

    fn linker(&self, capabilities: &Capabilities) -> wasmtime::Result<Linker<Host>> {
        let mut linker = Linker::new(&self.engine);
        for capability in capabilities {
            match capability {
                Capability::Log => {
                    linker.func_wrap("ippoc", "log", |mut caller: Caller<'_, Host>, ptr: i32, len: i32| {
                        let memory = match caller.get_export("memory") {
                            Some(Extern::Memory(m)) => m,
                            _ => return Err(HostError("log: the skill exports no memory".into()).into()),
                        };
                        let (start, len) = (ptr as u32 as usize, len as u32 as usize);
                        let bytes = memory
                            .data(&caller)
                            .get(start..start.saturating_add(len))
                            .ok_or_else(|| HostError(format!("log: bytes {start}..+{len} are outside memory")))?
                            .to_vec();
                        let log = &mut caller.data_mut().log;
                        if log.len() + bytes.len() > LOG_BYTES_MAX {
                            return Err(HostError(format!("log: more than {LOG_BYTES_MAX} bytes")).into());
                        }
                        log.extend_from_slice(&bytes);
                        Ok(())
                    })?;
                }
                Capability::Clock => {
                    linker.func_wrap("ippoc", "clock_ms", || -> i64 {
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64)
                    })?;
                }
            }
        }
        Ok(linker)
    }

    /// Runs `skill` on `input` within `limits`, paid by `meter`: the budget is
    /// checked first (the fuel ceiling is what the caller can pay), the fuel
    /// burnt is charged after, whether the run succeeded or trapped.
    pub fn run<M: Meter>(
        &self,
        skill: &Skill,
        input: &[u8],
        limits: &RunLimits,
        meter: &M,
    ) -> Result<RunReport<M::Receipt>, RunFailure<M::Receipt>> {
        let began = Instant::now();
        let result = self.run_metered(skill, input, limits, meter);
        // A run refused by its budget never started: no time to observe.
        let (failure, fuel, ran) = match &result {
            Ok(r) => (None, r.fuel_used, true),
            Err(f) => (
                Some(&f.kind),
                f.fuel_used,
                !matches!(f.kind, FailureKind::BudgetDenied(_)),
            ),
        };
        let seconds = ran.then(|| began.elapsed().as_secs_f64());
        self.metrics.ran(failure, fuel, seconds);
        result
    }

    fn run_metered<M: Meter>(
        &self,
        skill: &Skill,
        input: &[u8],
        limits: &RunLimits,
        meter: &M,
    ) -> Result<RunReport<M::Receipt>, RunFailure<M::Receipt>> {
        let limits = self.config.clamp(limits);
        let fail = |kind, fuel_used, receipt| RunFailure {
            kind,
            fuel_used,
            receipt,
            module: Some(skill.hash),
        };
        let budget = meter
            .fuel_budget()
            .map_err(|e| fail(FailureKind::BudgetDenied(e), 0, None))?;
        let ceiling = limits.fuel.min(budget);
        if ceiling == 0 {
            return Err(fail(
                FailureKind::BudgetDenied(crate::meter::MeterError("no fuel can be paid for".into())),
                0,
                None,
            ));
        }
        let _slot = self.slots.acquire();
        let started = Instant::now();
        let mut store = Store::new(
            &self.engine,
            Host {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes_max)
                    .table_elements(limits.table_elements_max)
                    .instances(1)
                    .tables(1)
                    .memories(1)
                    .trap_on_grow_failure(true)
                    .build(),
                log: Vec::new(),
            },
        );
        store.limiter(|h| &mut h.limits);
        store.set_fuel(ceiling).expect("fuel is enabled on this engine");
        store.set_epoch_deadline(limits.wall_ms.div_ceil(EPOCH_TICK_MS) + 1);
        let result = call(&mut store, &skill.pre, input, limits.output_bytes_max);
        let fuel_used = ceiling - store.get_fuel().expect("fuel is enabled on this engine");
        let elapsed = started.elapsed();
        let receipt = match meter.charge(fuel_used, result.is_err()) {
            Ok(r) => r,
            Err(e) => return Err(fail(FailureKind::ChargeFailed(e), fuel_used, None)),
        };
        match result {
            Ok(output) => Ok(RunReport {
                module: skill.hash,
                output,
                fuel_used,
                fuel_ceiling: ceiling,
                log: std::mem::take(&mut store.data_mut().log),
                receipt,
                elapsed,
            }),
            Err(kind) => Err(fail(kind, fuel_used, Some(receipt))),
        }
    }

    /// [`Sandbox::prepare`] then [`Sandbox::run`]; a module refused before it
    /// runs is charged the configured `reject_fuel`.
    pub fn run_module<M: Meter>(
        &self,
        module: &[u8],
        capabilities: &Capabilities,
        input: &[u8],
        limits: &RunLimits,
        meter: &M,
    ) -> Result<RunReport<M::Receipt>, RunFailure<M::Receipt>> {
        match self.prepare(module, capabilities) {
            Ok(skill) => self.run(&skill, input, limits, meter),
            Err(e) => {
                let fuel = self.config.reject_fuel;
                let receipt = meter.charge(fuel, true).ok();
                self.metrics.ran(Some(&FailureKind::Rejected(e.clone())), fuel, None);
                Err(RunFailure {
                    kind: FailureKind::Rejected(e),
                    fuel_used: fuel,
                    receipt,
                    module: None,
                })
            }
        }
    }
}

/// The skill ABI (docs/skill-abi.md): exports `memory`, `alloc(len) -> ptr`
/// and `run(ptr, len) -> (out_ptr << 32 | out_len)`.
fn check_abi(module: &Module) -> Result<(), PrepareError> {
    let missing = |what: &str| PrepareError::Abi(format!("missing export {what}"));
    let memory = module.get_export("memory").ok_or_else(|| missing("memory"))?;
    if memory.memory().is_none() {
        return Err(PrepareError::Abi("export memory is not a memory".into()));
    }
    for (name, params, results) in [("alloc", 1usize, 1usize), ("run", 2, 1)] {
        let f = module
            .get_export(name)
            .and_then(|e| e.func().cloned())
            .ok_or_else(|| missing(name))?;
        if f.params().len() != params || f.results().len() != results {
            return Err(PrepareError::Abi(format!("export {name} has the wrong signature")));
        }
    }
    Ok(())
}

fn call(
    store: &mut Store<Host>,
    pre: &InstancePre<Host>,
    input: &[u8],
    output_max: usize,
) -> Result<Vec<u8>, FailureKind> {
    let instance = pre.instantiate(&mut *store).map_err(classify)?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| FailureKind::Abi("no memory".into()))?;
    let alloc: TypedFunc<i32, i32> = instance
        .get_typed_func(&mut *store, "alloc")
        .map_err(|e| FailureKind::Abi(e.to_string()))?;
    let run: TypedFunc<(i32, i32), i64> = instance
        .get_typed_func(&mut *store, "run")
        .map_err(|e| FailureKind::Abi(e.to_string()))?;
    let len = i32::try_from(input.len()).map_err(|_| FailureKind::Abi("input too large".into()))?;
    let ptr = alloc.call(&mut *store, len).map_err(classify)?;
    memory
        .write(&mut *store, ptr as u32 as usize, input)
        .map_err(|_| FailureKind::Abi(format!("alloc returned {ptr}, outside memory for {len} bytes")))?;
    let packed = run.call(&mut *store, (ptr, len)).map_err(classify)? as u64;
    let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    if out_len > output_max {
        return Err(FailureKind::OutputTooLarge {
            len: out_len,
            max: output_max,
        });
    }
    memory
        .data(&*store)
        .get(out_ptr..out_ptr + out_len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| FailureKind::Abi(format!("output {out_ptr}..+{out_len} is outside memory")))
}

fn classify(e: wasmtime::Error) -> FailureKind {
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => FailureKind::OutOfFuel,
            Trap::Interrupt => FailureKind::Timeout,
            Trap::StackOverflow => FailureKind::StackOverflow,
            Trap::UnreachableCodeReached => FailureKind::Unreachable,
            Trap::MemoryOutOfBounds => FailureKind::MemoryOutOfBounds,
            other => FailureKind::Trap(other.to_string()),
        };
    }
    if let Some(host) = e.downcast_ref::<HostError>() {
        return FailureKind::HostCall(host.0.clone());
    }
    let text = format!("{e:#}");
    if text.contains("growing memory") || text.contains("memory minimum size") {
        FailureKind::MemoryLimit
    } else if text.contains("growing table") || text.contains("table minimum size") || text.contains("table elements") {
        FailureKind::TableLimit
    } else {
        FailureKind::Trap(text)
    }
}
