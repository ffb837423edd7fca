//! Feeds arbitrary bytes to the numpy parser: it must return a report or an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelpack_plugin_sdk::{MemSource, Source};

fuzz_target!(|data: &[u8]| {
    let src = MemSource::new("fuzz.npy", data.to_vec());
    let _ = numpy::inspect(&[&src as &dyn Source]);
});
