use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMillisecondType,
};
use arrow::row::{RowConverter, SortField};

use crate::error::Result;

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const NULL_HASH: u64 = 0x5bd1_e995;

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb)
}

#[inline]
fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = SEED ^ b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rem.len()].copy_from_slice(rem);
        h = mix(h, u64::from_le_bytes(buf));
    }
    h
}

/// Hashes the key columns of every row into `out`, the same way on every machine, so that a
/// key lands in the same key group wherever it is computed.
pub fn hash_columns(columns: &[ArrayRef], num_rows: usize, out: &mut Vec<u64>) -> Result<()> {
    out.clear();
    out.resize(num_rows, SEED);
    for col in columns {
        hash_column(col, out)?;
    }
    Ok(())
}

macro_rules! hash_prim {
    ($col:expr, $t:ty, $out:expr) => {{
        let a = $col.as_primitive::<$t>();
        for (i, h) in $out.iter_mut().enumerate() {
            *h = if a.is_null(i) {
                mix(*h, NULL_HASH)
            } else {
                mix(*h, a.value(i) as u64)
            };
        }
    }};
}

fn hash_column(col: &ArrayRef, out: &mut [u64]) -> Result<()> {
    match col.data_type() {
        DataType::Int8 => hash_prim!(col, Int8Type, out),
        DataType::Int16 => hash_prim!(col, Int16Type, out),
        DataType::Int32 => hash_prim!(col, Int32Type, out),
        DataType::Int64 => hash_prim!(col, Int64Type, out),
        DataType::Date32 => hash_prim!(col, Date32Type, out),
        DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, _) => {
            hash_prim!(col, TimestampMillisecondType, out)
        }
        DataType::Float64 => {
            let a = col.as_primitive::<Float64Type>();
            for (i, h) in out.iter_mut().enumerate() {
                *h = if a.is_null(i) {
                    mix(*h, NULL_HASH)
                } else {
                    // -0.0 and 0.0 are one key, as in SQL.
                    let v = a.value(i);
                    let v = if v == 0.0 { 0.0 } else { v };
                    mix(*h, v.to_bits())
                };
            }
        }
        DataType::Decimal128(_, _) => {
            let a = col.as_primitive::<Decimal128Type>();
            for (i, h) in out.iter_mut().enumerate() {
                *h = if a.is_null(i) {
                    mix(*h, NULL_HASH)
                } else {
                    let v = a.value(i);
                    mix(mix(*h, v as u64), (v >> 64) as u64)
                };
            }
        }
        DataType::Boolean => {
            let a = col.as_boolean();
            for (i, h) in out.iter_mut().enumerate() {
                *h = if a.is_null(i) {
                    mix(*h, NULL_HASH)
                } else {
                    mix(*h, a.value(i) as u64 + 1)
                };
            }
        }
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            for (i, h) in out.iter_mut().enumerate() {
                *h = if a.is_null(i) {
                    mix(*h, NULL_HASH)
                } else {
                    mix(*h, hash_bytes(a.value(i).as_bytes()))
                };
            }
        }
        _ => {
            // Anything else hashes through Arrow's row format, which is canonical per type.
            let conv = RowConverter::new(vec![SortField::new(col.data_type().clone())])?;
            let rows = conv.convert_columns(std::slice::from_ref(col))?;
            for (i, h) in out.iter_mut().enumerate() {
                *h = mix(*h, hash_bytes(rows.row(i).as_ref()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_nulls_are_a_key() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(2),
            Some(1),
            None,
            None,
        ]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x", "y", "x", "z", "z"]));
        let mut h = Vec::new();
        hash_columns(&[a, b], 5, &mut h).unwrap();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[1]);
        assert_eq!(h[3], h[4]);
    }
}
