//! Splits a checkpoint's tensors by purpose so a tool can count the model's own weights.
//!
//! Two layouts are told apart by the top-level object:
//! * a **state dict** (some top-level value is itself a tensor, or the root is a module or a
//!   sequence): group `weights` (role weights) and `buffers` (role buffers, by name: running
//!   statistics, position ids, rotary `inv_freq`, `*_buffer`…);
//! * a **training checkpoint** (a dict whose values are containers, e.g. `{"model": …,
//!   "optimizer": …}`): one group per top-level key. Optimizer, scheduler, scaler and EMA/SWA
//!   keys are training state; `model`, `state_dict`, `net`… are weights (their buffers go to a
//!   `<key>.buffers` group); other keys are weights when no key is recognised as the model,
//!   `other` otherwise.

use std::collections::HashMap;

use modelpack_plugin_sdk::prelude::*;

use crate::pickle::{Arena, FoundTensor, Node, Value, walk};

/// Last path components of non-trainable buffers (shared with the other state-dict formats).
const BUFFER_NAMES: &[&str] = modelpack_plugin_sdk::meaning::TORCH_BUFFER_NAMES;

/// Top-level keys holding the model's own weights.
const WEIGHT_KEYS: &[&str] = &[
    "model",
    "models",
    "state_dict",
    "model_state_dict",
    "model_state",
    "module",
    "net",
    "network",
    "params",
    "parameters",
    "weights",
    "generator",
    "discriminator",
];

/// True when a tensor name looks like a registered buffer rather than a parameter.
pub fn is_buffer(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BUFFER_NAMES.contains(&last) || last.ends_with("_buffer")
}

/// The role a training checkpoint's top-level key implies, if it is a known one.
pub fn key_role(key: &str) -> Option<GroupRole> {
    let k = key.to_ascii_lowercase();
    let training = k.contains("optim")
        || k.contains("sched")
        || k.contains("scaler")
        || k == "ema"
        || k.starts_with("ema_")
        || k.ends_with("_ema")
        || k.contains("swa")
        || k == "amp";
    if training {
        Some(GroupRole::TrainingState)
    } else if WEIGHT_KEYS.contains(&k.as_str()) {
        Some(GroupRole::Weights)
    } else {
        None
    }
}

/// True when the root is a dict none of whose values is directly a tensor.
pub fn is_training_checkpoint(arena: &Arena, root: &Value) -> bool {
    if !matches!(arena.node(root), Some(Node::Dict(_))) {
        return false;
    }
    let Some(entries) = walk::top_level_entries(arena, root) else {
        return false;
    };
    !entries.is_empty()
        && !entries
            .iter()
            .any(|(_, v)| matches!(arena.node(v), Some(Node::Tensor(_))))
}

/// Groups in first-seen order, with a name index (checkpoints can have many top-level keys).
#[derive(Default)]
struct Groups {
    list: Vec<TensorGroup>,
    index: HashMap<String, usize>,
}

impl Groups {
    fn add(&mut self, name: &str, role: GroupRole, params: u64) {
        match self.index.get(name) {
            Some(&i) => {
                let g = &mut self.list[i];
                g.tensor_count += 1;
                g.parameter_count = g.parameter_count.saturating_add(params);
            }
            None => {
                self.index.insert(name.to_string(), self.list.len());
                self.list.push(TensorGroup {
                    name: name.to_string(),
                    role,
                    tensor_count: 1,
                    parameter_count: params,
                });
            }
        }
    }
}

/// Elements in a shape (saturating).
pub fn elements(shape: &[u64]) -> u64 {
    shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
}

/// The role of one tensor: its top-level key's role in a training checkpoint (unknown keys
/// are weights unless another key holds the model), then buffers and quantisation side data
/// by name.
pub fn tensor_role(t: &FoundTensor, training_checkpoint: bool, has_model_key: bool) -> TensorRole {
    let base = if training_checkpoint {
        key_role(&t.top).unwrap_or(if has_model_key {
            TensorRole::Other
        } else {
            TensorRole::Weights
        })
    } else {
        TensorRole::Weights
    };
    if base == TensorRole::Weights {
        state_dict_role(&t.name).unwrap_or(base)
    } else {
        base
    }
}

/// Groups for the tensors of one pickle.
pub fn split(tensors: &[FoundTensor], training_checkpoint: bool) -> Vec<TensorGroup> {
    let mut groups = Groups::default();
    if !training_checkpoint {
        for t in tensors {
            let (name, role) = if is_buffer(&t.name) {
                ("buffers", GroupRole::Buffers)
            } else {
                ("weights", GroupRole::Weights)
            };
            groups.add(name, role, elements(&t.tensor.shape));
        }
        return groups.list;
    }
    let has_model_key = tensors
        .iter()
        .any(|t| key_role(&t.top) == Some(GroupRole::Weights));
    let default_role = if has_model_key {
        GroupRole::Other
    } else {
        GroupRole::Weights
    };
    for t in tensors {
        let role = key_role(&t.top).unwrap_or(default_role);
        let params = elements(&t.tensor.shape);
        if role == GroupRole::Weights && is_buffer(&t.name) {
            groups.add(&format!("{}.buffers", t.top), GroupRole::Buffers, params);
        } else {
            groups.add(&t.top, role, params);
        }
    }
    groups.list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(key_role("optimizer"), Some(GroupRole::TrainingState));
        assert_eq!(
            key_role("optimizer_state_dict"),
            Some(GroupRole::TrainingState)
        );
        assert_eq!(key_role("lr_scheduler"), Some(GroupRole::TrainingState));
        assert_eq!(key_role("model_ema"), Some(GroupRole::TrainingState));
        assert_eq!(key_role("ema"), Some(GroupRole::TrainingState));
        assert_eq!(key_role("model"), Some(GroupRole::Weights));
        assert_eq!(key_role("state_dict"), Some(GroupRole::Weights));
        assert_eq!(key_role("epoch"), None);
        assert!(is_buffer("bn.running_mean"));
        assert!(is_buffer("stft.forward_basis_buffer"));
        assert!(!is_buffer("conv.weight"));
    }
}
