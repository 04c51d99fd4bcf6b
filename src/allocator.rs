//! Tuning of the global allocator (mimalloc).
//!
//! By default mimalloc commits its arenas eagerly on Linux (where memory is overcommitted).
//! With the many threads that decode and apply ingest requests, that kept ~100 MiB more
//! resident than the live heap in the 100k-series remote-write benchmark. Committing on demand
//! took the benchmark's peak RSS from ~385 MiB to ~260–280 MiB (BENCHMARKS.md).
//!
//! mimalloc reads its options once, when it initialises (its own constructor, priority 101,
//! or the first allocation, whichever comes first), so the default has to be in place before
//! that: a constructor of priority 100 sets it, before anything allocates. It only sets the
//! *default*: `MIMALLOC_ARENA_EAGER_COMMIT` in the environment still wins.

/// `mi_option_arena_eager_commit` in mimalloc 3's option enum.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Runs before `main` and before mimalloc's constructor (ELF `.init_array` entries run in
/// priority order).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00100")]
static SET_DEFAULTS: extern "C" fn() = set_defaults;

#[cfg(target_os = "linux")]
extern "C" fn set_defaults() {
    // SAFETY: writes the default value of one integer option in mimalloc's option table,
    // before any thread or allocation exists; the option index and value are mimalloc's own.
    unsafe { libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0) };
}

/// Whether arenas are committed eagerly (for the startup log).
pub fn eager_commit() -> bool {
    // SAFETY: reads one option; mimalloc is initialised by now (main has allocated).
    unsafe { libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT) != 0 }
}

/// Returns this thread's free memory to the operating system now, instead of after mimalloc's
/// purge delay. For after a refused request that inflated a large buffer: under a burst of
/// such requests on many threads, each thread's cached pages would otherwise add up to far
/// more resident memory than was ever in use at once.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks and purges the calling thread's heap and mimalloc's
    // arenas; it takes no pointers and is safe to call at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
