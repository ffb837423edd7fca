//! Copy plans from `torch.save` zip checkpoints to safetensors (WIT `weight-conversion`).
//!
//! The pickle is read by the same walker `inspect` uses (never executed); each tensor becomes
//! a planned tensor pointing at its storage record's bytes in the zip (records are stored, not
//! deflated, by `torch.save`). Naming and selection follow what a user of the framework expects:
//! * by default only the model's `state_dict` (roles weights, buffers, quantisation side data);
//!   optimizer state and other training leftovers are listed as skipped;
//! * a training checkpoint whose kept tensors all sit under one top-level key (`state_dict`,
//!   `model`) loses that key from the names; a Lightning checkpoint whose `state_dict` keys all
//!   start with `model.` loses that too (the wrapped module's own keys), said in the notes;
//! * tensors that are the same view of one storage (tied weights) are written once, the others
//!   listed as skipped, as `safetensors.torch.save_model` does; different views of one storage
//!   are each copied (no aliasing in the output) and reported in a note;
//! * classes the pickle names that are not on the allowlist are reported as skipped objects.

use std::collections::HashMap;

use modelpack_plugin_sdk::prelude::*;

use crate::dtype;
use crate::groups;
use crate::legacy;
use crate::safety;
use crate::scan::{self, MAX_PICKLE, Scanned};
use crate::zip::{self, ZipArchive};

/// The dtypes a safetensors file can hold (the `safetensors` crate's `Dtype`).
const SAFETENSORS_DTYPES: &[&str] = &[
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
    "F64", "I64", "U64",
];

/// Plans the conversion of a zip checkpoint (only the first input is read).
pub fn plan(inputs: &[&dyn Source], options: &ConversionOptions) -> Result<CopyPlan, Error> {
    if options.target != "safetensors" {
        return Err(Error::Unsupported(format!(
            "pytorch converts to safetensors, not {:?}",
            options.target
        )));
    }
    let src = *inputs
        .first()
        .ok_or_else(|| Error::Io("no input files".into()))?;
    let name = src.name();
    let head = read_at(src, 0, 4)?;
    if !zip::looks_like_zip(&head) {
        let (main, records, big) = legacy::storage_records(src)?;
        let locate = |key: &str| {
            records.get(key).copied().ok_or_else(|| {
                Error::Malformed(format!("{name}: storage {key:?} has no record in the file"))
            })
        };
        let mut plan = plan_scanned(&name, &main, &locate, big, options)?;
        plan.notes.push("legacy (pre-1.6) torch.save file".into());
        return Ok(plan);
    }
    let archive = zip::read_archive(src)?;
    let root = archive
        .entries
        .first()
        .and_then(|e| e.name.split_once('/'))
        .map(|(r, _)| r.to_string())
        .ok_or_else(|| Error::Malformed(format!("{name}: zip archive has no <folder>/data.pkl")))?;
    let pkl_name = format!("{root}/data.pkl");
    let pkl = archive.find(&pkl_name).ok_or_else(|| {
        Error::Malformed(format!(
            "{name}: zip archive has no {pkl_name} (not a torch.save checkpoint)"
        ))
    })?;
    let data = zip::read_all(src, pkl, MAX_PICKLE)?;
    let mut findings = Vec::new();
    let main = scan::scan_bytes(&name, &pkl_name, &data, &mut findings)?;
    drop(data);
    let byte_swap = small(src, &archive, &format!("{root}/byteorder"))?.as_deref() == Some("big");
    let data_prefix = format!("{root}/data/");
    let locate = |key: &str| {
        let member = format!("{data_prefix}{key}");
        let entry = archive
            .find(&member)
            .ok_or_else(|| Error::Malformed(format!("{name}: zip member {member} is missing")))?;
        if entry.method != zip::METHOD_STORED {
            return Err(Error::Unsupported(format!(
                "{name}: zip member {member} is compressed ({}); torch.save stores records uncompressed",
                entry.method_name()
            )));
        }
        Ok((zip::data_offset(src, entry)?, entry.uncompressed_size))
    };
    plan_scanned(&name, &main, &locate, byte_swap, options)
}

/// Gives a storage key's data offset in the file and its size in bytes.
type Locate<'a> = dyn Fn(&str) -> Result<(u64, u64), Error> + 'a;

/// The plan for the tensors of one scanned pickle; `locate` gives a storage key's data offset
/// in the file and its size in bytes.
fn plan_scanned(
    name: &str,
    main: &Scanned,
    locate: &Locate<'_>,
    byte_swap: bool,
    options: &ConversionOptions,
) -> Result<CopyPlan, Error> {
    let mut skipped = Vec::new();
    for g in safety::unsafe_names(&main.globals) {
        skipped.push(Skipped {
            name: g,
            reason: "unknown class, never imported".into(),
        });
    }
    let lightning = main
        .walk
        .top_level_keys
        .iter()
        .any(|k| k == "pytorch-lightning_version");
    let has_model_key = main.training_checkpoint
        && main
            .walk
            .tensors
            .iter()
            .any(|t| groups::key_role(&t.top) == Some(TensorRole::Weights));
    let model_roles = [
        TensorRole::Weights,
        TensorRole::Buffers,
        TensorRole::QuantizationAux,
    ];

    let mut kept = Vec::new();
    for t in &main.walk.tensors {
        let role = groups::tensor_role(t, main.training_checkpoint, has_model_key);
        if !options.include_all && !model_roles.contains(&role) {
            skipped.push(Skipped {
                name: t.name.clone(),
                reason: role_word(role).into(),
            });
            continue;
        }
        let Some(st) = &t.storage else {
            skipped.push(Skipped {
                name: t.name.clone(),
                reason: "tensor without storage data".into(),
            });
            continue;
        };
        let Some((dt, elsize)) = dtype::storage_dtype(&st.type_name) else {
            skipped.push(Skipped {
                name: t.name.clone(),
                reason: format!("storage type {} has no safetensors dtype", st.type_name),
            });
            continue;
        };
        if !SAFETENSORS_DTYPES.contains(&dt) {
            skipped.push(Skipped {
                name: t.name.clone(),
                reason: format!("dtype {dt} has no safetensors equivalent"),
            });
            continue;
        }
        let (start, record_bytes) = locate(&st.key)?;
        // A legacy view starts `view.0` elements into its root storage.
        let view_offset = match st.view {
            Some((o, _)) => u64::try_from(o).map_err(|_| {
                Error::Malformed(format!("{name}: tensor {}: negative view offset", t.name))
            })?,
            None => 0,
        };
        let shape = t.tensor.shape.clone();
        let strides = match &t.tensor.stride {
            // A 0-d tensor has one element; whatever its stride says is irrelevant.
            _ if shape.is_empty() => vec![],
            Some(s) if s.len() == shape.len() => s
                .iter()
                .map(|&x| u64::try_from(x))
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| {
                    Error::Malformed(format!("{name}: tensor {}: negative stride {s:?}", t.name))
                })?,
            Some(s) => {
                return Err(Error::Malformed(format!(
                    "{name}: tensor {}: {} strides for shape {shape:?}",
                    t.name,
                    s.len()
                )));
            }
            None => contiguous(&shape),
        };
        let off = u64::try_from(t.tensor.storage_offset.unwrap_or(0))
            .ok()
            .and_then(|o| o.checked_add(view_offset))
            .ok_or_else(|| {
                Error::Malformed(format!("{name}: tensor {}: bad storage offset", t.name))
            })?;
        // The last element the view touches must lie inside the record.
        let extent = extent(&shape, &strides, off, elsize).ok_or_else(|| {
            Error::Malformed(format!("{name}: tensor {}: size overflows", t.name))
        })?;
        if extent > record_bytes {
            return Err(Error::Malformed(format!(
                "{name}: tensor {} reads {extent} bytes of storage {}, which holds {record_bytes}",
                t.name, st.key
            )));
        }
        kept.push((
            t,
            role,
            st.key.to_string(),
            PlannedTensor {
                name: t.name.clone(),
                dtype: dt.to_string(),
                shape,
                source: TensorSource {
                    input: 0,
                    offset: if extent == 0 {
                        start
                    } else {
                        start + off * elsize
                    },
                    strides,
                    byte_swap: byte_swap && elsize > 1,
                },
                role,
            },
        ));
    }

    let mut notes = Vec::new();
    // Names as the framework's state_dict keys would be.
    if main.training_checkpoint
        && let Some(first) = kept.first().map(|k| k.0.top.clone())
        && kept.iter().all(|k| k.0.top == first)
        && !first.is_empty()
    {
        let prefix = format!("{first}.");
        for k in &mut kept {
            if let Some(rest) = k.3.name.strip_prefix(&prefix) {
                k.3.name = rest.to_string();
            }
        }
        notes.push(format!(
            "names are the keys of the checkpoint's {first:?} entry (prefix {prefix:?} removed)"
        ));
        if lightning && kept.iter().all(|k| k.3.name.starts_with("model.")) {
            for k in &mut kept {
                k.3.name = k.3.name["model.".len()..].to_string();
            }
            notes.push(
                "Lightning checkpoint: the wrapped module's \"model.\" prefix removed from every name"
                    .into(),
            );
        }
    }

    // Tied weights: identical views of one storage are written once.
    let mut seen: HashMap<(String, u64, Vec<u64>, Vec<u64>), String> = HashMap::new();
    let mut storage_users: HashMap<String, usize> = HashMap::new();
    let mut names: HashMap<String, ()> = HashMap::new();
    let mut tensors = Vec::new();
    for (_, _, key, p) in kept {
        let id = (
            key.clone(),
            p.source.offset,
            p.shape.clone(),
            p.source.strides.clone(),
        );
        if let Some(first) = seen.get(&id) {
            skipped.push(Skipped {
                name: p.name.clone(),
                reason: format!("shares storage with {first} (tied weight, written once)"),
            });
            continue;
        }
        if names.insert(p.name.clone(), ()).is_some() {
            skipped.push(Skipped {
                name: p.name.clone(),
                reason: "duplicate name".into(),
            });
            continue;
        }
        seen.insert(id, p.name.clone());
        *storage_users.entry(key).or_default() += 1;
        tensors.push(p);
    }
    let shared = storage_users.values().filter(|&&n| n > 1).count();
    if shared > 0 {
        notes.push(format!(
            "{shared} storages are shared by different views; each view is copied on its own (no aliasing in the output)"
        ));
    }
    if byte_swap {
        notes.push("big-endian checkpoint: elements byte-swapped to little-endian".into());
    }
    Ok(CopyPlan {
        tensors,
        metadata: vec![("format".into(), "pt".into())],
        skipped,
        notes,
    })
}

/// How a role is named in skipped entries.
fn role_word(r: TensorRole) -> &'static str {
    match r {
        TensorRole::Weights => "weights",
        TensorRole::Buffers => "buffers",
        TensorRole::TrainingState => "training-state",
        TensorRole::QuantizationAux => "quantization-aux",
        TensorRole::Other => "not part of the model (use --include-all)",
    }
}

fn small(src: &dyn Source, archive: &ZipArchive, name: &str) -> Result<Option<String>, Error> {
    match archive.find(name) {
        Some(e) if e.uncompressed_size <= 64 => Ok(Some(
            String::from_utf8_lossy(&zip::read_all(src, e, 64)?)
                .trim()
                .to_string(),
        )),
        _ => Ok(None),
    }
}

/// Row-major strides of `shape`, in elements.
pub fn contiguous(shape: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// Bytes from the storage start to the end of the last element the view reads (0 if empty).
fn extent(shape: &[u64], strides: &[u64], offset: u64, elsize: u64) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    let mut last = offset;
    for (d, s) in shape.iter().zip(strides) {
        last = last.checked_add((d - 1).checked_mul(*s)?)?;
    }
    last.checked_add(1)?.checked_mul(elsize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_extent() {
        assert_eq!(contiguous(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(extent(&[2, 3], &[1, 2], 1, 4), Some(28));
        assert_eq!(extent(&[0, 3], &[3, 1], 0, 4), Some(0));
        assert_eq!(extent(&[u64::MAX, 2], &[u64::MAX, 1], 0, 4), None);
    }
}
