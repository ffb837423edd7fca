//! Running independent jobs (one per layer or blob) on all cores, biggest first, stopping at
//! the first failure. Each job owns a fixed-size buffer, so memory stays bounded by the number
//! of workers, not by the size of the model.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many workers to use when the caller does not say: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `f` over every item on up to `jobs` threads, starting with the items of highest
/// `cost`; results come back in item order. After the first error no new job starts, and
/// that error is returned.
pub fn try_map<T, R, E>(
    items: &[T],
    jobs: usize,
    cost: impl Fn(&T) -> u64,
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let mut order: Vec<usize> = (0..items.len()).collect();
    // Longest jobs first: the last worker to finish then runs a short job, not a big one.
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let workers = jobs.max(1).min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let work = || {
        loop {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            match f(&items[i]) {
                Ok(r) => slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
        }
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(work);
            }
        });
    }
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran when none failed"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_item_order_and_first_error_wins() {
        let items: Vec<u64> = (0..50).collect();
        let out: Result<Vec<u64>, String> = try_map(&items, 4, |&x| x % 7, |&x| Ok(x * 2));
        assert_eq!(
            out.unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let out: Result<Vec<u64>, String> = try_map(
            &items,
            3,
            |_| 0,
            |&x| {
                if x == 10 {
                    Err(format!("bad {x}"))
                } else {
                    Ok(x)
                }
            },
        );
        assert_eq!(out.unwrap_err(), "bad 10");
        let empty: Vec<u64> = Vec::new();
        assert!(
            try_map(&empty, 2, |_| 0, |&x| Ok::<_, ()>(x))
                .unwrap()
                .is_empty()
        );
    }
}
