//! Progress on stderr. On a terminal: an overall bar plus one bar per file or layer in flight,
//! each with its total and percentage. Elsewhere (CI logs): one plain line every
//! `MODELPACK_PROGRESS_INTERVAL` seconds (default 10), so a long pack shows it is alive without
//! flooding the log; a short run prints nothing.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::human_bytes;

/// Plain-line progress for a stderr that is not a terminal.
struct Plain {
    verb: String,
    total: u64,
    start: Instant,
    /// Bytes done and when the last line was printed, under one lock: workers on several
    /// threads report, and a count read outside the lock could print after a larger one.
    state: Mutex<(u64, Instant)>,
    every: Duration,
}

impl Plain {
    fn add(&self, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += n;
        let done = state.0;
        let now = Instant::now();
        if now.duration_since(state.1) < self.every {
            return;
        }
        state.1 = now;
        let secs = now.duration_since(self.start).as_secs_f64().max(0.001);
        let pct = (done.min(self.total) * 100)
            .checked_div(self.total)
            .unwrap_or(100);
        // Printed under the lock so lines come out in the order of their counts.
        eprintln!(
            "modelpack: {} {} of {} ({pct}%), {}/s",
            self.verb,
            human_bytes(done),
            human_bytes(self.total),
            human_bytes((done as f64 / secs) as u64)
        );
        drop(state);
    }
}

fn plain_interval() -> Duration {
    std::env::var("MODELPACK_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(10), Duration::from_secs_f64)
}

/// The bars of one operation: an overall bar plus one per file or layer in flight.
#[derive(Clone)]
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
    plain: Option<Arc<Plain>>,
}

impl Progress {
    /// No output at all.
    pub fn hidden() -> Progress {
        Progress {
            bars: None,
            plain: None,
        }
    }

    /// Bars on stderr when `wanted` and stderr is a terminal; periodic plain lines when it
    /// is not; nothing when not `wanted`.
    pub fn stderr(wanted: bool, verb: &str, total_bytes: u64) -> Progress {
        if !wanted {
            return Progress::hidden();
        }
        if !std::io::stderr().is_terminal() {
            let now = Instant::now();
            return Progress {
                bars: None,
                plain: Some(Arc::new(Plain {
                    verb: verb.to_string(),
                    total: total_bytes,
                    start: now,
                    state: Mutex::new((0, now)),
                    every: plain_interval(),
                })),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {binary_bytes}/{binary_total_bytes} {percent:>3}% {binary_bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        total.set_prefix(verb.to_string());
        total.enable_steady_tick(Duration::from_millis(100));
        Progress {
            bars: Some((multi, total)),
            plain: None,
        }
    }

    /// A bar for one item of `size` bytes, labelled `name` (a file path, never a digest);
    /// dropped (and cleared) when the item is done.
    pub fn item(&self, name: &str, size: u64) -> ItemBar {
        let Some((multi, total)) = &self.bars else {
            return ItemBar {
                bars: None,
                plain: self.plain.clone(),
            };
        };
        let bar = multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {binary_bytes}/{binary_total_bytes} {percent:>3}% {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix("");
        bar.set_message(name.to_string());
        ItemBar {
            bars: Some((multi.clone(), bar, total.clone())),
            plain: None,
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Some((_, total)) = &self.bars {
            total.finish_and_clear();
        }
    }
}

/// The bar of one item in flight.
pub struct ItemBar {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    plain: Option<Arc<Plain>>,
}

impl ItemBar {
    /// Counts `n` more bytes done, on the item's bar and the overall one at once.
    pub fn inc(&self, n: u64) {
        if let Some((_, bar, total)) = &self.bars {
            bar.inc(n);
            total.inc(n);
        }
        if let Some(p) = &self.plain {
            p.add(n);
        }
    }
}

impl Drop for ItemBar {
    fn drop(&mut self) {
        if let Some((multi, bar, total)) = self.bars.take() {
            // An item that ends short of its size (a hard link needs no copy, a blob already
            // in the registry is skipped) still counts in full, so the overall bar never lags
            // behind the items.
            let rest = bar.length().unwrap_or(0).saturating_sub(bar.position());
            total.inc(rest);
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}
