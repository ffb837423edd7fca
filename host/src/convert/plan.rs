//! Checks a plugin's copy plan before a byte moves: every dtype known, every shape's byte size
//! representable, every source range inside its input file, names unique. A plan that fails
//! any check is refused whole; nothing is read or written for it.
//!
//! Overlapping *source* ranges are allowed (views of one storage, tied weights): the host
//! copies each tensor into its own output range, so the output never aliases.

use safetensors::Dtype;
use thiserror::Error;

use crate::plugin::runtime::wc;

/// Most tensors one plan may hold (a 1T-parameter checkpoint has well under a million).
pub const MAX_TENSORS: usize = 4 << 20;
/// Longest tensor name.
pub const MAX_NAME: usize = 4096;

/// Why a plan was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[allow(missing_docs)] // the messages say what each variant is
pub enum PlanError {
    #[error("tensor {name:?}: dtype {dtype:?} is not a safetensors dtype")]
    Dtype { name: String, dtype: String },
    #[error(
        "tensor {name:?}: dtype {dtype} packs elements into parts of a byte; copy plans move whole elements"
    )]
    SubByte { name: String, dtype: Dtype },
    #[error("tensor {name:?}: shape {shape:?} is too large (byte size overflows)")]
    Overflow { name: String, shape: Vec<u64> },
    #[error("tensor {name:?}: {strides} strides for a shape of {dims} dimensions")]
    Strides {
        name: String,
        strides: usize,
        dims: usize,
    },
    #[error("tensor {name:?}: input {input} does not exist (the plan was given {inputs})")]
    Input {
        name: String,
        input: u32,
        inputs: usize,
    },
    #[error("tensor {name:?}: reads bytes {start}..{end} of {file}, which has {size} bytes")]
    OutOfBounds {
        name: String,
        file: String,
        start: u64,
        end: u128,
        size: u64,
    },
    #[error("tensor name {0:?} appears twice in the plan")]
    Duplicate(String),
    #[error("tensor name {0:?} is empty, reserved or longer than 4096 bytes")]
    Name(String),
    #[error("plan has {0} tensors, over the limit of {MAX_TENSORS}")]
    TooMany(usize),
}

/// The safetensors dtype a plan spells `name`, as the `safetensors` crate parses it (its
/// `Dtype` also gives the element size and the order its files sort tensors by).
pub fn parse_dtype(name: &str) -> Option<Dtype> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Bytes per element; `None` for dtypes whose elements are smaller than a byte (`F4`, `F6_*`),
/// which a plan of element strides cannot address.
pub fn element_bytes(dtype: Dtype) -> Option<u64> {
    let bits = dtype.bitsize() as u64;
    bits.is_multiple_of(8).then_some(bits / 8)
}

/// One tensor of a checked plan (fields as in the WIT `planned-tensor`; `file` indexes the
/// converted files, `nbytes` is the output size).
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct Checked {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Index into the converted files.
    pub file: usize,
    pub offset: u64,
    pub strides: Vec<u64>,
    pub elsize: u64,
    pub byte_swap: bool,
    /// Bytes in the output.
    pub nbytes: u64,
}

/// An input file as the checks see it.
#[allow(missing_docs)]
pub struct InputFile<'a> {
    pub display: &'a str,
    pub size: u64,
    /// Index of this file among all converted files.
    pub index: usize,
}

/// Checks one plan over `inputs` (the plugin's input list, in order).
pub fn check(
    tensors: &[wc::PlannedTensor],
    inputs: &[InputFile<'_>],
) -> Result<Vec<Checked>, PlanError> {
    if tensors.len() > MAX_TENSORS {
        return Err(PlanError::TooMany(tensors.len()));
    }
    let mut out = Vec::with_capacity(tensors.len());
    let mut seen = std::collections::HashSet::new();
    for t in tensors {
        let name = t.name.clone();
        if name.is_empty() || name == "__metadata__" || name.len() > MAX_NAME {
            return Err(PlanError::Name(name));
        }
        if !seen.insert(name.clone()) {
            return Err(PlanError::Duplicate(name));
        }
        let dtype = parse_dtype(&t.dtype).ok_or_else(|| PlanError::Dtype {
            name: name.clone(),
            dtype: t.dtype.clone(),
        })?;
        let elsize = element_bytes(dtype).ok_or_else(|| PlanError::SubByte {
            name: name.clone(),
            dtype,
        })?;
        let overflow = || PlanError::Overflow {
            name: name.clone(),
            shape: t.shape.clone(),
        };
        let count = t
            .shape
            .iter()
            .try_fold(1u64, |a, d| a.checked_mul(*d))
            .ok_or_else(overflow)?;
        let nbytes = count.checked_mul(elsize).ok_or_else(overflow)?;
        let s = &t.source;
        if s.strides.len() != t.shape.len() {
            return Err(PlanError::Strides {
                name,
                strides: s.strides.len(),
                dims: t.shape.len(),
            });
        }
        let input = inputs
            .get(s.input as usize)
            .ok_or_else(|| PlanError::Input {
                name: name.clone(),
                input: s.input,
                inputs: inputs.len(),
            })?;
        // The end of the last element read, in u128 so no plan can wrap it.
        let end: u128 = if count == 0 {
            s.offset as u128
        } else {
            let last: u128 = t
                .shape
                .iter()
                .zip(&s.strides)
                .map(|(d, st)| (*d as u128 - 1) * *st as u128)
                .sum();
            s.offset as u128 + (last + 1) * elsize as u128
        };
        if end > input.size as u128 {
            return Err(PlanError::OutOfBounds {
                name,
                file: input.display.to_string(),
                start: s.offset,
                end,
                size: input.size,
            });
        }
        out.push(Checked {
            name,
            dtype,
            shape: t.shape.clone(),
            file: input.index,
            offset: s.offset,
            strides: s.strides.clone(),
            elsize,
            byte_swap: s.byte_swap && elsize > 1,
            nbytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::runtime::ft::TensorRole;

    fn planned(dtype: &str, shape: Vec<u64>) -> wc::PlannedTensor {
        let strides = vec![1; shape.len()];
        wc::PlannedTensor {
            name: "t".into(),
            dtype: dtype.into(),
            shape,
            source: wc::TensorSource {
                input: 0,
                offset: 0,
                strides,
                byte_swap: false,
            },
            role: TensorRole::Weights,
        }
    }

    fn one(dtype: &str, shape: Vec<u64>) -> Result<Vec<Checked>, PlanError> {
        let input = InputFile {
            display: "in",
            size: 64,
            index: 0,
        };
        check(&[planned(dtype, shape)], &[input])
    }

    #[test]
    fn dtypes_are_the_safetensors_crates() {
        let c = one("C64", vec![2]).unwrap();
        assert_eq!((c[0].dtype, c[0].elsize, c[0].nbytes), (Dtype::C64, 8, 16));
        let c = one("F8_E8M0", vec![3]).unwrap();
        assert_eq!((c[0].elsize, c[0].nbytes), (1, 3));
        assert_eq!(
            one("F4", vec![2]).unwrap_err().to_string(),
            "tensor \"t\": dtype F4 packs elements into parts of a byte; copy plans move whole elements"
        );
        assert_eq!(
            one("f32", vec![1]).unwrap_err(),
            PlanError::Dtype {
                name: "t".into(),
                dtype: "f32".into()
            }
        );
        // 9 F64 elements end at byte 72 of a 64-byte input.
        assert!(matches!(
            one("F64", vec![9]).unwrap_err(),
            PlanError::OutOfBounds { end: 72, .. }
        ));
    }
}
