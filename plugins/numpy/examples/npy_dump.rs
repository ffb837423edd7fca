//! Prints `name<TAB>dtype<TAB>shape` per tensor, or the error, for each file (a debugging aid).
use modelpack_plugin_sdk::{FileSource, Source};

fn main() {
    for path in std::env::args().skip(1) {
        let src = FileSource::open(&path).expect("open");
        match numpy::inspect(&[&src as &dyn Source]) {
            Ok(r) => {
                for t in &r.tensors {
                    println!("{path}\t{}\t{}\t{:?}", t.name, t.dtype, t.shape);
                }
                for f in &r.findings {
                    println!("{path}\tFINDING\t{}\t{}", f.id, f.message);
                }
            }
            Err(e) => println!("{path}\tERROR\t{e:?}"),
        }
    }
}
