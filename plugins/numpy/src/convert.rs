//! Copy plans from `.npy`/`.npz` arrays to safetensors (WIT `weight-conversion`).
//!
//! Every array with a plain numeric dtype becomes one tensor (an `.npy` named after the file
//! stem, an `.npz` member after its name without `.npy`); Fortran-ordered arrays get reversed
//! strides so the host writes them row-major, as `np.ascontiguousarray` would; big-endian data
//! is byte-swapped. Object, string and structured arrays are skipped and reported; deflated
//! `.npz` members (`np.savez_compressed`) cannot be copied by range and are refused.

use modelpack_plugin_sdk::prelude::*;
use pickle_scan::zip;

use crate::header::{self, MAX_HEADER, NpyHeader};
use crate::npy;

/// The safetensors dtype of a numpy descr (`<f4` → `F32`), and whether it is big-endian.
pub fn safetensors_dtype(descr: &str) -> Option<(&'static str, bool)> {
    let (order, code) = match descr.chars().next()? {
        c @ ('<' | '>' | '|' | '=') => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dt = match code {
        "f2" | "e" => "F16",
        "f4" | "f" => "F32",
        "f8" | "d" => "F64",
        "i1" | "b" => "I8",
        "i2" | "h" => "I16",
        "i4" | "i" => "I32",
        "i8" | "q" => "I64",
        "u1" | "B" => "U8",
        "u2" | "H" => "U16",
        "u4" | "I" => "U32",
        "u8" | "Q" => "U64",
        "b1" | "?" => "BOOL",
        _ => return None,
    };
    Some((dt, order == '>'))
}

fn planned(name: String, h: &NpyHeader, data_start: u64) -> Result<PlannedTensor, Skipped> {
    let Some((dt, big)) = safetensors_dtype(&h.descr) else {
        return Err(Skipped {
            name,
            reason: format!("dtype {} has no safetensors equivalent", h.dtype.name),
        });
    };
    let mut strides = vec![1u64; h.shape.len()];
    if h.fortran_order {
        for i in 1..h.shape.len() {
            strides[i] = strides[i - 1].saturating_mul(h.shape[i - 1]);
        }
    } else {
        for i in (0..h.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(h.shape[i + 1]);
        }
    }
    Ok(PlannedTensor {
        name,
        dtype: dt.into(),
        shape: h.shape.clone(),
        source: TensorSource {
            input: 0,
            offset: data_start + h.data_offset,
            strides,
            byte_swap: big && h.dtype.itemsize > 1,
        },
        role: TensorRole::Weights,
    })
}

fn add(
    r: Result<PlannedTensor, Skipped>,
    tensors: &mut Vec<PlannedTensor>,
    skipped: &mut Vec<Skipped>,
) {
    match r {
        Ok(t) => tensors.push(t),
        Err(s) => skipped.push(s),
    }
}

/// Plans the conversion of an `.npy` or `.npz` file (only the first input is read).
pub fn plan(inputs: &[&dyn Source], options: &ConversionOptions) -> Result<CopyPlan, Error> {
    if options.target != "safetensors" {
        return Err(Error::Unsupported(format!(
            "numpy converts to safetensors, not {:?}",
            options.target
        )));
    }
    let src = *inputs
        .first()
        .ok_or_else(|| Error::Io("no input files".into()))?;
    let name = src.name();
    let head = read_at(src, 0, 8)?;
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    if header::is_npy(&head) {
        let h = header::read(&mut |n| read_at(src, 0, n), &name)?;
        npy::check_data(&h, src.size(), &name)?;
        let file = name.rsplit('/').next().unwrap_or(&name);
        let stem = file.strip_suffix(".npy").unwrap_or(file).to_string();
        add(planned(stem, &h, 0), &mut tensors, &mut skipped);
    } else if zip::looks_like_zip(&head) {
        let archive = zip::read_archive(src)?;
        for e in &archive.entries {
            if e.name.ends_with('/') {
                continue;
            }
            let what = format!("{name}: member {}", e.name);
            let first = zip::read_prefix(src, e, 6)?;
            if !header::is_npy(&first) {
                skipped.push(Skipped {
                    name: e.name.clone(),
                    reason: "not an .npy array".into(),
                });
                continue;
            }
            if e.method != zip::METHOD_STORED {
                return Err(Error::Unsupported(format!(
                    "{what} is compressed ({}); only np.savez (stored) archives are converted",
                    e.method_name()
                )));
            }
            let h = header::read(
                &mut |n| zip::read_prefix(src, e, n.min(MAX_HEADER + 12)),
                &what,
            )?;
            npy::check_data(&h, e.uncompressed_size, &what)?;
            let start = zip::data_offset(src, e)?;
            let tname = e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string();
            add(planned(tname, &h, start), &mut tensors, &mut skipped);
        }
    } else {
        return Err(Error::Malformed(format!(
            "{name}: neither an .npy array (\\x93NUMPY) nor an .npz zip archive"
        )));
    }
    Ok(CopyPlan {
        tensors,
        metadata: vec![("format".into(), "pt".into())],
        skipped,
        notes: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes() {
        assert_eq!(safetensors_dtype("<f4"), Some(("F32", false)));
        assert_eq!(safetensors_dtype(">i8"), Some(("I64", true)));
        assert_eq!(safetensors_dtype("|b1"), Some(("BOOL", false)));
        assert_eq!(safetensors_dtype("<U5"), None);
        assert_eq!(safetensors_dtype("|O"), None);
    }
}
