//! [`ModuleSet`]: a module set in canonical (sorted) form, its stable fingerprint, and calls
//! encoded as one byte each (the module's index in the set). Pure.

use crate::trajectory::{MAX_MODULES, ValidationError};

/// A module set in canonical form: sorted, without duplicates, so the same set given in another
/// order is the same set. Calls are stored as indices into this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleSet {
    names: Vec<String>,
}

impl ModuleSet {
    /// Canonicalises `modules`; a module listed twice is an error (it hints at a caller bug).
    pub fn new(modules: &[String]) -> Result<Self, ValidationError> {
        let mut names = modules.to_vec();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ValidationError::BadModuleSet(format!(
                "{:?} is listed twice",
                pair[0]
            )));
        }
        if names.len() > MAX_MODULES {
            return Err(ValidationError::BadModuleSet(format!(
                "{} modules exceed the limit of {MAX_MODULES}",
                names.len()
            )));
        }
        Ok(Self { names })
    }

    /// Rebuilds a set from its stored canonical text (names joined by `,`).
    pub fn from_canonical(text: &str) -> Self {
        Self {
            names: text.split(',').map(str::to_owned).collect(),
        }
    }

    /// The names in canonical (sorted) order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Position of `module` in canonical order.
    pub fn index_of(&self, module: &str) -> Option<usize> {
        self.names
            .binary_search_by(|name| name.as_str().cmp(module))
            .ok()
    }

    /// The names joined by `,` (names cannot contain a comma).
    pub fn canonical(&self) -> String {
        self.names.join(",")
    }

    /// A stable 64-bit fingerprint (FNV-1a over the canonical text), independent of input order
    /// and of the Rust version, so it can be stored.
    pub fn fingerprint(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                hash = fnv_step(hash, b',');
            }
            for &byte in name.as_bytes() {
                hash = fnv_step(hash, byte);
            }
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// Encodes calls as one byte each (their index in canonical order).
    pub fn encode_calls(&self, calls: &[String]) -> Result<Vec<u8>, ValidationError> {
        calls
            .iter()
            .enumerate()
            .map(|(index, module)| {
                self.index_of(module)
                    .and_then(|i| u8::try_from(i).ok())
                    .ok_or_else(|| ValidationError::CallOutsideSet {
                        index,
                        module: module.clone(),
                    })
            })
            .collect()
    }

    /// Decodes calls stored by [`ModuleSet::encode_calls`]; `None` if an index is out of range.
    pub fn decode_calls(&self, bytes: &[u8]) -> Option<Vec<String>> {
        bytes
            .iter()
            .map(|&i| self.names.get(usize::from(i)).cloned())
            .collect()
    }
}

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
}
