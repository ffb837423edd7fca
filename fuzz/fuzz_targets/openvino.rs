//! Feeds arbitrary bytes to the OpenVINO IR parser: it must return a report or an error, never
//! panic. The first byte picks the case: an `.xml` topology with a `.bin` beside it whose size
//! comes from the next two bytes (so offset/size checks are exercised), an `.xml` alone, or a
//! `.bin` with the input as its `.xml` neighbour. Seed with tests/fixtures/openvino/*.xml
//! prefixed by three bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelpack_plugin_sdk::{MemSource, Source};

fuzz_target!(|data: &[u8]| {
    let [mode, a, b, rest @ ..] = data else {
        return;
    };
    let bin_size = u16::from_le_bytes([*a, *b]) as usize * 16;
    let src = match mode % 3 {
        0 => MemSource::with_siblings(
            "fuzz.xml",
            rest.to_vec(),
            vec![("fuzz.bin".into(), vec![0; bin_size])],
        ),
        1 => MemSource::new("fuzz.xml", rest.to_vec()),
        _ => MemSource::with_siblings(
            "fuzz.bin",
            vec![7; bin_size],
            vec![("fuzz.xml".into(), rest.to_vec())],
        ),
    };
    let _ = openvino::inspect(&[&src as &dyn Source]);
});
