//! The one canonical binary encoding: bincode 2.0.1 with a fixed configuration.
//!
//! Big-endian, fixed-width integers (u8 = 1 byte, u32 = 4, u64 = 8), enum
//! variants as a u32 index, `Vec` and byte strings as a u64 length then the
//! items, `Option` as a 0/1 byte then the value, fixed arrays as their bytes.
//! Decoding refuses trailing bytes and anything larger than
//! [`DECODE_BYTES_MAX`]. docs/ledger-format.md spells this out for outside
//! implementers.

use bincode::config::{BigEndian, Configuration, Fixint, Limit};
use bincode::{Decode, Encode};

/// Largest encoded object the ledger decodes (an entry is far smaller).
pub const DECODE_BYTES_MAX: usize = 256 * 1024;

type Config = Configuration<BigEndian, Fixint, Limit<DECODE_BYTES_MAX>>;

fn config() -> Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<DECODE_BYTES_MAX>()
}

/// Encodes `value` canonically.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, config()).expect("encoding to a Vec cannot fail below the size limit")
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// bincode rejected the bytes.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// A value decoded but bytes were left over.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

/// Decodes exactly one `T` from all of `bytes`.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) =
        bincode::decode_from_slice::<T, _>(bytes, config()).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - used));
    }
    Ok(value)
}
