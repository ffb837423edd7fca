//! A format plugin that misbehaves on purpose, chosen by the first line of the file it reads.
//!
//! `.evil` files hold one command: `LOOP`, `ALLOC`, `PANIC`, `STACK`, `BIGREAD`, `BIGRESULT`,
//! `PASSWD`, `ENV`, `SOCKET`, `STDOUT`, `HUGE` (claims 2^63 weight parameters, so two such
//! files overflow a u64 sum), or `OK`. `plan-conversion` answers hostile copy plans chosen the
//! same way: `PLAN-OUTSIDE` (bytes past the end of the file), `PLAN-OVERFLOW` (an offset near
//! 2^64), `PLAN-HUGE` (a shape whose byte size overflows), `PLAN-INPUT` (an input index that
//! was never given), `PLAN-DTYPE` (an unknown dtype), `PLAN-DUP` (one name twice),
//! `PLAN-STRIDES` (strides that do not match the shape) and `PLAN-OK` (the file's first 4
//! bytes as a U8 tensor). The host's sandbox tests run each one and check
//! that it costs exactly that one file.

use modelpack_plugin_sdk::prelude::*;

struct Evil;

fn report(note: String) -> ModelReport {
    ModelReport {
        format: "evil".into(),
        tensors: vec![],
        parameter_count: 0,
        weight_parameters: 0,
        dtypes: vec![],
        quantization: None,
        candidates: vec![],
        lineage: vec![],
        groups: vec![],
        inputs: vec![],
        outputs: vec![],
        metadata: vec![MetaEntry {
            key: "evil.note".into(),
            value: MetaValue::Text(note),
        }],
        findings: vec![],
        covers: vec![],
        layer_kind: None,
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: [u8; 256]) -> u64 {
    let pad = std::hint::black_box(pad);
    recurse(depth + 1, pad) + pad[(depth % 256) as usize] as u64
}

impl FormatPlugin for Evil {
    const INFO: &'static str = r#"{"name":"evil","version":"0.1.0","description":"misbehaves on purpose (tests only)","extensions":["evil"]}"#;

    fn detect(name: &str, _head: &[u8]) -> f32 {
        if name.ends_with(".evil") { 1.0 } else { 0.0 }
    }

    fn inspect(inputs: &[&dyn Source]) -> Result<ModelReport, Error> {
        let src = inputs[0];
        let bytes = read_at(src, 0, 64)?;
        let cmd = String::from_utf8_lossy(&bytes).trim().to_string();
        match cmd.as_str() {
            "LOOP" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "ALLOC" => {
                // 2 GiB in 64 MiB steps: one huge Vec would only hit "capacity overflow".
                let mut keep = Vec::new();
                for _ in 0..32 {
                    keep.push(vec![1u8; 64 << 20]);
                }
                Ok(report(format!("allocated {} chunks", keep.len())))
            }
            "PANIC" => panic!("plugin panicked on purpose"),
            "STACK" => Ok(report(recurse(0, [7; 256]).to_string())),
            "BIGREAD" => match src.read(0, u32::MAX) {
                Ok(b) => Ok(report(format!("host returned {} bytes", b.len()))),
                Err(e) => Err(Error::Io(e.to_string())),
            },
            "BIGRESULT" => {
                // ~1 GiB of result: 16 Ki tensors with 64 KiB names.
                let name = "x".repeat(64 << 10);
                let mut r = report("big".into());
                r.tensors = (0..16 << 10)
                    .map(|_| weight_tensor(name.clone(), "F32", vec![1]))
                    .collect();
                Ok(r)
            }
            "PASSWD" => match std::fs::read_to_string("/etc/passwd") {
                Ok(s) => Ok(report(format!("read /etc/passwd: {} bytes", s.len()))),
                Err(e) => Err(Error::Io(format!("open /etc/passwd: {e}"))),
            },
            "ENV" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                Ok(report(format!("env={} args={}", vars.len(), args.len())))
            }
            "SOCKET" => match std::net::TcpStream::connect("127.0.0.1:22") {
                Ok(_) => Ok(report("connected to 127.0.0.1:22".into())),
                Err(e) => Err(Error::Io(format!("connect 127.0.0.1:22: {e}"))),
            },
            "STDOUT" => {
                println!("hello from plugin stdout");
                eprintln!("hello from plugin stderr");
                Ok(report("printed".into()))
            }
            "HUGE" => {
                let mut r = report("huge".into());
                r.tensors = vec![weight_tensor("w", "F32", vec![1 << 63])];
                r.parameter_count = 1 << 63;
                finish_report(&mut r, &[], |_| Some(Precision::Float32));
                Ok(r)
            }
            "OK" => Ok(report("ok".into())),
            other => Err(Error::Malformed(format!("unknown evil command {other:?}"))),
        }
    }

    fn plan_conversion(
        inputs: &[&dyn Source],
        _options: &ConversionOptions,
    ) -> Result<CopyPlan, Error> {
        hostile_plan(inputs[0])
    }
}

fn planned(name: &str, dtype: &str, shape: Vec<u64>, input: u32, offset: u64) -> PlannedTensor {
    let mut strides = vec![1u64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(shape[i + 1]);
    }
    PlannedTensor {
        name: name.into(),
        dtype: dtype.into(),
        shape,
        source: TensorSource {
            input,
            offset,
            strides,
            byte_swap: false,
        },
        role: TensorRole::Weights,
    }
}

fn hostile_plan(src: &dyn Source) -> Result<CopyPlan, Error> {
    let bytes = read_at(src, 0, 64)?;
    let cmd = String::from_utf8_lossy(&bytes).trim().to_string();
    let size = src.size();
    let tensors = match cmd.as_str() {
        "PLAN-OUTSIDE" => vec![planned("w", "F32", vec![1024], 0, size.saturating_sub(8))],
        "PLAN-OVERFLOW" => vec![planned("w", "F32", vec![4], 0, u64::MAX - 3)],
        "PLAN-HUGE" => vec![planned("w", "F32", vec![u64::MAX / 2, 4], 0, 0)],
        "PLAN-INPUT" => vec![planned("w", "U8", vec![4], 7, 0)],
        "PLAN-DTYPE" => vec![planned("w", "X99", vec![4], 0, 0)],
        "PLAN-DUP" => vec![
            planned("w", "U8", vec![2], 0, 0),
            planned("w", "U8", vec![2], 0, 2),
        ],
        "PLAN-STRIDES" => {
            let mut t = planned("w", "U8", vec![2, 2], 0, 0);
            t.source.strides = vec![1];
            vec![t]
        }
        "PLAN-OK" => vec![planned("w", "U8", vec![4], 0, 0)],
        other => return Err(Error::Malformed(format!("unknown evil plan {other:?}"))),
    };
    Ok(CopyPlan {
        tensors,
        metadata: vec![("format".into(), "pt".into())],
        skipped: vec![],
        notes: vec![],
    })
}

modelpack_plugin_sdk::export_format_plugin!(Evil);
