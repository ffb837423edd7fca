//! Interruptions (SIGINT, SIGTERM, SIGHUP) while a command writes an output.
//!
//! Commands register what an interruption must undo (a staging directory, parent directories
//! they created) with [`on_interrupt`]. The binary calls [`install`] once: a thread fed by
//! signal-hook's self-pipe waits for the first signal, runs every registered action (newest
//! first) while holding the registry, then ends the process *by the same signal* (the default
//! action re-raised), so the shell reports the conventional status (130 for SIGINT, 143 for
//! SIGTERM, 129 for SIGHUP) and scripts or `make` stop as they would for any tool killed by
//! Ctrl-C.
//!
//! Steps that move a result into place (a rename, an `index.json` replacement) run under
//! [`hold`], which takes the same registry lock: an interruption waits for such a step to
//! finish, then sees either the staging still registered (and removes it) or the result
//! committed (and leaves it). The cleanup never races a commit.
//!
//! SIGKILL cannot be caught; staging directories are therefore also locked (see
//! `oci::staging`) so the next run can tell a dead writer's leftovers from a live one.
//!
//! Without [`install`] (the library used from other programs) registrations are kept but
//! nothing listens: signals keep their default action and the caller decides.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

type Action = Box<dyn FnMut() + Send>;

struct Registry {
    next: u64,
    actions: BTreeMap<u64, Action>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    actions: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // An action that panicked must not stop the others (or a later interruption) from running.
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts listening for SIGINT, SIGTERM and SIGHUP. Call once, from the binary.
pub fn install() -> Result<()> {
    // A signal the parent set to be ignored stays ignored: `nohup` (SIGHUP) and background
    // jobs of a script (SIGINT) rely on that.
    let wanted: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|&s| !ignored(s))
        .collect();
    let mut signals = Signals::new(wanted).context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                interrupted(sig);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

fn ignored(sig: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into a
    // zeroed struct we own.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

fn interrupted(sig: i32) -> ! {
    // Kept locked until the process ends: no commit can start after the cleanup.
    let mut reg = registry();
    let had_work = !reg.actions.is_empty();
    for action in reg.actions.values_mut().rev() {
        action();
    }
    if had_work {
        let name = signal_hook::low_level::signal_name(sig).unwrap_or("a signal");
        // Not eprintln!: a closed stderr must not panic this thread with the registry held.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nmodelpack: interrupted by {name}; partial output removed"
        );
    }
    // Re-raise with the default action so the parent sees death by this signal.
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    std::process::exit(128 + sig)
}

/// An action that runs if the process is interrupted; dropping it unregisters the action.
#[must_use = "dropping the registration unregisters the action at once"]
pub struct Registration(Option<u64>);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            registry().actions.remove(&id);
        }
    }
}

/// Registers `action` to run (once) if SIGINT, SIGTERM or SIGHUP ends the process before the
/// returned registration is dropped or retired.
pub fn on_interrupt(action: impl FnOnce() + Send + 'static) -> Registration {
    let mut once = Some(action);
    let mut reg = registry();
    let id = reg.next;
    reg.next += 1;
    reg.actions.insert(
        id,
        Box::new(move || {
            if let Some(f) = once.take() {
                f();
            }
        }),
    );
    Registration(Some(id))
}

/// A critical section: no interruption cleanup runs while it is held, and none can start
/// after it if the process is interrupted meanwhile (the cleanup waits for it).
pub struct Held(MutexGuard<'static, Registry>);

/// Enters a critical section (waits for a cleanup in progress, which then ends the process).
pub fn hold() -> Held {
    Held(registry())
}

impl Held {
    /// Unregisters `r` without its action running; for a commit that made it moot.
    pub fn retire(&mut self, mut r: Registration) {
        if let Some(id) = r.0.take() {
            self.0.actions.remove(&id);
        }
    }
}
