//! Feeds arbitrary bytes to the tflite parser: it must return a report or an error, never panic.
//! Seed the corpus with tests/fixtures/tflite/*.tflite so mutations reach the flatbuffer tables.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelpack_plugin_sdk::{MemSource, Source};

fuzz_target!(|data: &[u8]| {
    let src = MemSource::new("fuzz.tflite", data.to_vec());
    let _ = tflite::inspect(&[&src as &dyn Source]);
});
