//! Prints the report for the files named on the command line (a debugging aid).
use modelpack_plugin_sdk::{FileSource, Source};

fn main() {
    for path in std::env::args().skip(1) {
        let src = FileSource::open(&path).expect("open");
        match pytorch::inspect(&[&src as &dyn Source]) {
            Ok(r) => {
                println!(
                    "== {path}: {} tensors, {} params",
                    r.tensors.len(),
                    r.parameter_count
                );
                for t in r.tensors.iter().take(5) {
                    println!("  {} {} {:?}", t.name, t.dtype, t.shape);
                }
                for g in &r.groups {
                    println!(
                        "  group {} {:?} {} {}",
                        g.name, g.role, g.tensor_count, g.parameter_count
                    );
                }
                for m in &r.metadata {
                    println!("  meta {} = {:?}", m.key, m.value);
                }
                for f in &r.findings {
                    println!(
                        "  finding {} {:?} {} @{:?}",
                        f.id, f.severity, f.message, f.location.field
                    );
                }
            }
            Err(e) => println!("== {path}: error {e:?}"),
        }
    }
}
