//! Progress bars with throughput, drawn on stderr only when it is a terminal; otherwise every
//! call is a no-op, so scripts and CI logs stay quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one operation: an overall bar plus one per file or layer in flight.
#[derive(Clone)]
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
}

impl Progress {
    /// No output at all.
    pub fn hidden() -> Progress {
        Progress { bars: None }
    }

    /// Bars on stderr when `wanted` and stderr is a terminal; hidden otherwise.
    pub fn stderr(wanted: bool, verb: &str, total_bytes: u64) -> Progress {
        if !wanted || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let total = multi.add(ProgressBar::new(total_bytes));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        total.set_prefix(verb.to_string());
        total.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bars: Some((multi, total)),
        }
    }

    /// A bar for one item of `size` bytes; dropped (and cleared) when the item is done.
    pub fn item(&self, name: &str, size: u64) -> ItemBar {
        let Some((multi, total)) = &self.bars else {
            return ItemBar { bars: None };
        };
        let bar = multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} {bytes:>10} {binary_bytes_per_sec:>12} {msg}",
            )
            .expect("static template"),
        );
        bar.set_prefix("");
        bar.set_message(name.to_string());
        ItemBar {
            bars: Some((multi.clone(), bar, total.clone())),
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
}

impl ItemBar {
    /// Counts `n` more bytes done.
    pub fn inc(&self, n: u64) {
        if let Some((_, bar, total)) = &self.bars {
            bar.inc(n);
            total.inc(n);
        }
    }
}

impl Drop for ItemBar {
    fn drop(&mut self) {
        if let Some((multi, bar, _)) = self.bars.take() {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}
