//! Running many seeds at once, deterministically.
//!
//! Each worker thread owns its madsim runtimes (one per run; madsim forbids
//! spawning threads inside a run, so the threads are made here, outside).
//! Work is handed out by an atomic counter, and results are put back in
//! input order, so the output of a sweep never depends on `--jobs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Applies `f` to every item on `jobs` threads; results in input order.
/// `progress` is called after each item with the number finished so far.
pub fn sweep<I, T, F>(items: &[I], jobs: usize, f: F, progress: &(dyn Fn(usize) + Sync)) -> Vec<T>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> T + Sync,
{
    let jobs = jobs.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let out = f(item);
                results.lock().expect("results lock")[i] = Some(out);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// The default number of jobs: the machine's cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
