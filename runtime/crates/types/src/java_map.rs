//! The iteration order of Java's `java.util.HashMap`, so MAP values print in the order Flink
//! prints them.
//!
//! Flink keeps a MAP value as `MapData`: keys and values at positions `0..n`, in an order
//! that depends on who built it (the SQL `MAP[...]` constructor writes its arguments in
//! order; the `json` format `put`s the object's fields into a `HashMap` keyed by
//! `BinaryStringData` and wraps it in a `GenericMapData`, so its order is that map's
//! iteration order). Runnel's Arrow `MapArray` entries stand for those positions.
//!
//! The `print` connector converts each row to its external `Row` with
//! `MapMapConverter.toExternal`, which `put`s the entries, in `MapData` order, into a
//! `new HashMap<>()` of external objects (`String`, `Integer`, `LocalDateTime`, ...), and
//! `Row.toString` prints that map in its iteration order. Java's `HashMap` (Java 8 and later)
//! iterates bucket by bucket, and within a bucket in insertion order:
//!
//! * a key's bucket is `spread(h) & (capacity - 1)` with `spread(h) = h ^ (h >>> 16)` and `h`
//!   the key's `hashCode()` (0 for a null key);
//! * the table starts at 16 buckets on the first `put` and doubles whenever the size exceeds
//!   0.75 of the capacity, and also when a bucket would grow past 8 entries while the table
//!   has fewer than 64 buckets; doubling splits each bucket into two keeping relative order;
//! * `put` of a key equal to one already present replaces its value in place.
//!
//! Buckets that Java turns into trees (more than 8 colliding keys in a table of 64 buckets or
//! more, so maps of at least 49 entries) are still iterated in insertion order here, which
//! Java does not guarantee there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StructArray, UInt32Array};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, Time32SecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;

/// `HashMap`'s initial capacity and the bucket size past which it treeifies (or resizes).
const INITIAL_CAPACITY: usize = 16;
const TREEIFY_THRESHOLD: usize = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// Which `hashCode()` keys have: that of Flink's internal data (as the `GenericMapData` a
/// format builds from a `HashMap` holds them) or that of the external Java objects (as the
/// `print` connector's `Row` holds them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JavaKeys {
    /// `StringData`, boxed `Integer`, `Long`, ... (`BinaryStringData` hashes its UTF-8 bytes
    /// with Flink's MurmurHash3 variant).
    Internal,
    /// `String`, `Integer`, `Long`, `BigDecimal`, `LocalDate`, `LocalDateTime`, `Instant`, ...
    External,
}

/// The order in which a `new HashMap<>()` iterates after `put`ting the keys at positions
/// `range` of `keys`, one after the other: for each distinct key in iteration order, the
/// position of its first `put` (where the key is) and of its last (whose value the map
/// holds). `None` when a key type's Java hash is not reproducible (identity hashes of arrays,
/// rows, `byte[]`), so callers keep the positions' own order.
pub fn java_hash_map_order(
    keys: &dyn Array,
    range: std::ops::Range<usize>,
    kind: JavaKeys,
) -> Option<Vec<(usize, usize)>> {
    let mut hashes = Vec::with_capacity(range.len());
    for i in range.clone() {
        hashes.push(java_hash_code(keys, i, kind)?);
    }
    let start = range.start;
    Some(
        hash_map_order(&hashes, |a, b| keys_equal(keys, start + a, start + b))
            .into_iter()
            .map(|(first, last)| (start + first, start + last))
            .collect(),
    )
}

/// Lays out every MAP value in `array` (also inside ROW, ARRAY and MAP values) as a Flink
/// `GenericMapData` over a `java.util.HashMap` keyed by internal data holds it: entries in that
/// map's iteration order, a key `put` twice at its first position with its last value. This is
/// how Flink's `json` format turns a JSON object into a MAP, and the order then decides how
/// the `print` connector and `CAST(map AS STRING)` show it. Arrays without MAP values come
/// back as they are.
pub fn to_generic_map_layout(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    if !has_map(array.data_type()) {
        return Ok(array.clone());
    }
    Ok(match array.data_type() {
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let cols = s
                .columns()
                .iter()
                .map(to_generic_map_layout)
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new(
                fields.clone(),
                cols,
                s.nulls().cloned(),
            )?)
        }
        DataType::List(field) => {
            let l = array.as_list::<i32>();
            Arc::new(ListArray::try_new(
                field.clone(),
                l.offsets().clone(),
                to_generic_map_layout(l.values())?,
                l.nulls().cloned(),
            )?)
        }
        DataType::Map(field, sorted) => {
            let m = array.as_map();
            let offsets = m.value_offsets();
            let entries = m.entries();
            let keys = entries.column(0);
            let values = to_generic_map_layout(entries.column(1))?;
            let mut key_take: Vec<u32> = Vec::with_capacity(keys.len());
            let mut value_take: Vec<u32> = Vec::with_capacity(keys.len());
            let mut new_offsets: Vec<i32> = Vec::with_capacity(m.len() + 1);
            new_offsets.push(0);
            for i in 0..m.len() {
                let range = offsets[i] as usize..offsets[i + 1] as usize;
                match java_hash_map_order(keys.as_ref(), range.clone(), JavaKeys::Internal) {
                    Some(order) => {
                        for (k, v) in order {
                            key_take.push(k as u32);
                            value_take.push(v as u32);
                        }
                    }
                    None => {
                        key_take.extend(range.clone().map(|p| p as u32));
                        value_take.extend(range.map(|p| p as u32));
                    }
                }
                new_offsets.push(key_take.len() as i32);
            }
            let keys = arrow::compute::take(keys.as_ref(), &UInt32Array::from(key_take), None)?;
            let values =
                arrow::compute::take(values.as_ref(), &UInt32Array::from(value_take), None)?;
            let entries = StructArray::try_new(entries.fields().clone(), vec![keys, values], None)?;
            Arc::new(MapArray::try_new(
                field.clone(),
                OffsetBuffer::new(ScalarBuffer::from(new_offsets)),
                entries,
                m.nulls().cloned(),
                *sorted,
            )?)
        }
        _ => array.clone(),
    })
}

fn has_map(dt: &DataType) -> bool {
    match dt {
        DataType::Map(_, _) => true,
        DataType::Struct(fields) => fields.iter().any(|f| has_map(f.data_type())),
        DataType::List(f) => has_map(f.data_type()),
        _ => false,
    }
}

/// The iteration order of a `HashMap` after `put`ting keys with `hashes` in order, where
/// `same(i, j)` tells whether keys `i` and `j` are equal: (first, last) `put` positions of
/// each distinct key, in iteration order.
pub fn hash_map_order(hashes: &[i32], same: impl Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    // Entries as (spread hash, first position, last position), in buckets.
    let mut capacity = INITIAL_CAPACITY;
    let mut threshold = capacity * 3 / 4;
    let mut buckets: Vec<Vec<(u32, usize, usize)>> = vec![Vec::new(); capacity];
    let mut size = 0;
    for (pos, h) in hashes.iter().enumerate() {
        let h = spread(*h);
        let b = h as usize & (capacity - 1);
        if let Some(entry) = buckets[b]
            .iter_mut()
            .find(|(eh, first, _)| *eh == h && same(*first, pos))
        {
            entry.2 = pos;
            continue;
        }
        let before = buckets[b].len();
        buckets[b].push((h, pos, pos));
        if before >= TREEIFY_THRESHOLD && capacity < MIN_TREEIFY_CAPACITY {
            // `treeifyBin` on a small table resizes instead.
            resize(&mut buckets, &mut capacity, &mut threshold);
        }
        size += 1;
        if size > threshold {
            resize(&mut buckets, &mut capacity, &mut threshold);
        }
    }
    buckets
        .into_iter()
        .flatten()
        .map(|(_, first, last)| (first, last))
        .collect()
}

/// `HashMap.hash`: the high half folded into the low one.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

/// Doubles the table; each bucket splits into the same index and index + old capacity,
/// keeping the entries' relative order.
fn resize(
    buckets: &mut Vec<Vec<(u32, usize, usize)>>,
    capacity: &mut usize,
    threshold: &mut usize,
) {
    let new_capacity = *capacity * 2;
    let mut next: Vec<Vec<(u32, usize, usize)>> = vec![Vec::new(); new_capacity];
    for bucket in buckets.drain(..) {
        for e in bucket {
            next[e.0 as usize & (new_capacity - 1)].push(e);
        }
    }
    *buckets = next;
    *capacity = new_capacity;
    *threshold *= 2;
}

fn keys_equal(keys: &dyn Array, a: usize, b: usize) -> bool {
    match (keys.is_null(a), keys.is_null(b)) {
        (true, true) => return true,
        (false, false) => {}
        _ => return false,
    }
    let (mut x, mut y) = (String::new(), String::new());
    crate::FlinkFormatter::Print.write_value(keys, a, &mut x);
    crate::FlinkFormatter::Print.write_value(keys, b, &mut y);
    x == y
}

/// Java's `hashCode()` of the key at `row`; `None` where it is an identity hash.
pub fn java_hash_code(keys: &dyn Array, row: usize, kind: JavaKeys) -> Option<i32> {
    if keys.is_null(row) {
        return Some(0);
    }
    Some(match keys.data_type() {
        DataType::Utf8 => string_hash(keys.as_string::<i32>().value(row), kind),
        DataType::LargeUtf8 => string_hash(keys.as_string::<i64>().value(row), kind),
        DataType::Utf8View => string_hash(keys.as_string_view().value(row), kind),
        DataType::Boolean => {
            if keys.as_boolean().value(row) {
                1231
            } else {
                1237
            }
        }
        DataType::Int8 => keys.as_primitive::<Int8Type>().value(row) as i32,
        DataType::Int16 => keys.as_primitive::<Int16Type>().value(row) as i32,
        DataType::Int32 => keys.as_primitive::<Int32Type>().value(row),
        DataType::Int64 => long_hash(keys.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => {
            let v = keys.as_primitive::<Float32Type>().value(row);
            // Float.floatToIntBits: one canonical NaN.
            (if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() }) as i32
        }
        DataType::Float64 => {
            let v = keys.as_primitive::<Float64Type>().value(row);
            let bits = if v.is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                v.to_bits()
            };
            long_hash(bits as i64)
        }
        DataType::Decimal128(_, scale) if kind == JavaKeys::External => {
            big_decimal_hash(keys.as_primitive::<Decimal128Type>().value(row), *scale)
        }
        // Internal DATE and TIME are boxed `Integer`s.
        DataType::Date32 if kind == JavaKeys::Internal => {
            keys.as_primitive::<Date32Type>().value(row)
        }
        DataType::Date32 => local_date_hash(keys.as_primitive::<Date32Type>().value(row) as i64),
        DataType::Time32(unit) => {
            let ms = match unit {
                TimeUnit::Second => keys.as_primitive::<Time32SecondType>().value(row) * 1000,
                _ => keys.as_primitive::<Time32MillisecondType>().value(row),
            };
            match kind {
                JavaKeys::Internal => ms,
                JavaKeys::External => long_hash(ms as i64 * 1_000_000),
            }
        }
        DataType::Timestamp(unit, tz) if kind == JavaKeys::External => {
            let nanos: i128 = match unit {
                TimeUnit::Second => {
                    keys.as_primitive::<TimestampSecondType>().value(row) as i128 * 1_000_000_000
                }
                TimeUnit::Millisecond => {
                    keys.as_primitive::<TimestampMillisecondType>().value(row) as i128 * 1_000_000
                }
                TimeUnit::Microsecond => {
                    keys.as_primitive::<TimestampMicrosecondType>().value(row) as i128 * 1_000
                }
                TimeUnit::Nanosecond => {
                    keys.as_primitive::<TimestampNanosecondType>().value(row) as i128
                }
            };
            let secs = nanos.div_euclid(1_000_000_000) as i64;
            let nano = nanos.rem_euclid(1_000_000_000) as i64;
            if tz.is_some() {
                // Instant.hashCode
                long_hash(secs).wrapping_add(51i32.wrapping_mul(nano as i32))
            } else {
                // LocalDateTime.hashCode: date ^ time
                let days = secs.div_euclid(86_400);
                let nano_of_day = secs.rem_euclid(86_400) * 1_000_000_000 + nano;
                local_date_hash(days) ^ long_hash(nano_of_day)
            }
        }
        _ => return None,
    })
}

fn string_hash(s: &str, kind: JavaKeys) -> i32 {
    match kind {
        JavaKeys::External => java_string_hash(s),
        JavaKeys::Internal => binary_string_hash(s.as_bytes()),
    }
}

/// `String.hashCode`: `31 * h + c` over the UTF-16 code units.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// `BinaryStringData.hashCode`: Flink's MurmurHash3 (x86, 32-bit) of the UTF-8 bytes with
/// seed 42, reading whole words little-endian and the tail byte by byte, sign-extended.
pub fn binary_string_hash(bytes: &[u8]) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix_k1 = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mix_h1 = |h: u32, k: u32| {
        (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64)
    };
    let mut h: u32 = 42;
    let words = bytes.chunks_exact(4);
    let tail = words.remainder();
    for w in words {
        h = mix_h1(h, mix_k1(u32::from_le_bytes([w[0], w[1], w[2], w[3]])));
    }
    for b in tail {
        h = mix_h1(h, mix_k1(*b as i8 as i32 as u32));
    }
    h ^= bytes.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

/// `Long.hashCode`.
fn long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// `LocalDate.hashCode` of a day count since 1970-01-01.
fn local_date_hash(days: i64) -> i32 {
    let (y, m, d) = civil_from_days(days);
    (y & 0xFFFF_F800u32 as i32) ^ ((y << 11) + ((m as i32) << 6) + d as i32)
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y as i32, m, d)
}

/// `BigDecimal.hashCode`: `31 * unscaled.hashCode() + scale`, with `BigInteger.hashCode` over
/// the magnitude's 32-bit words (most significant first) times the sign.
fn big_decimal_hash(unscaled: i128, scale: i8) -> i32 {
    let mag = unscaled.unsigned_abs();
    let mut h: i32 = 0;
    let mut started = false;
    for i in (0..4).rev() {
        let word = (mag >> (32 * i)) as u32;
        if word == 0 && !started {
            continue;
        }
        started = true;
        h = h.wrapping_mul(31).wrapping_add(word as i32);
    }
    let signed = if unscaled < 0 { h.wrapping_neg() } else { h };
    signed.wrapping_mul(31).wrapping_add(scale as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};

    fn order(keys: &dyn Array, kind: JavaKeys) -> Vec<usize> {
        java_hash_map_order(keys, 0..keys.len(), kind)
            .unwrap()
            .into_iter()
            .map(|(first, _)| first)
            .collect()
    }

    fn days(y: i32, m: u32, d: u32) -> i64 {
        (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days()
    }

    fn external(a: &dyn Array) -> i32 {
        java_hash_code(a, 0, JavaKeys::External).unwrap()
    }

    // The expected values below are what Java 17 computes.
    #[test]
    fn java_hashes() {
        use arrow::array::{
            Date32Array, Decimal128Array, Float32Array, Float64Array, Time32MillisecondArray,
            TimestampMillisecondArray,
        };
        assert_eq!(java_string_hash("size"), 3_530_753);
        assert_eq!(java_string_hash("color"), 94_842_723);
        assert_eq!(java_string_hash("héllo"), 103_094_734);
        assert_eq!(java_string_hash("😀x"), 54_959_989);
        assert_eq!(long_hash(-1), 0);
        assert_eq!(long_hash(1 << 32), 1);
        assert_eq!(big_decimal_hash(150, 2), 4652);
        assert_eq!(big_decimal_hash(-150, 2), -4648);
        let d = Decimal128Array::from(vec![1_234_567_890_123_456_789_012_345i128])
            .with_precision_and_scale(25, 1)
            .unwrap();
        assert_eq!(external(&d), 292_950_206);
        assert_eq!(local_date_hash(days(2024, 2, 29)), 4_145_309);
        assert_eq!(local_date_hash(days(-5, 1, 1)), 8257);
        assert_eq!(
            external(&Date32Array::from(vec![days(2024, 2, 29) as i32])),
            4_145_309
        );
        let ts = TimestampMillisecondArray::from(vec![1_706_933_106_789]);
        assert_eq!(external(&ts), 818_966_179);
        assert_eq!(external(&ts.clone().with_timezone("UTC")), -1_003_739_854);
        let ltz = TimestampMillisecondArray::from(vec![-1500]).with_timezone("UTC");
        assert_eq!(external(&ltz), -269_803_775);
        assert_eq!(external(&Float64Array::from(vec![1.5])), 1_073_217_536);
        assert_eq!(external(&Float32Array::from(vec![1.5f32])), 1_069_547_520);
        assert_eq!(
            external(&Time32MillisecondArray::from(vec![37_800_000])),
            -7_163_296
        );
    }

    #[test]
    fn binary_string_hashes_match_flink() {
        // BinaryStringData.fromString(s).hashCode() in Flink.
        assert_eq!(binary_string_hash(b"size") as u32, 2_306_010_488);
        assert_eq!(binary_string_hash(b"color") as u32, 3_349_251_014);
    }

    // Orders below are those of Java 17's HashMap for the same keys put in the same order.
    #[test]
    fn buckets_then_insertion_order() {
        // "size" and "color" share bucket 4 of 16: insertion order decides.
        let k = StringArray::from(vec!["size", "color"]);
        assert_eq!(order(&k, JavaKeys::External), vec![0, 1]);
        // A GenericMapData from the json format holds them color first (buckets 7 and 10).
        assert_eq!(order(&k, JavaKeys::Internal), vec![1, 0]);
        // 17 and 1 share bucket 1.
        let k = Int32Array::from(vec![17, 3, 1, 16]);
        assert_eq!(order(&k, JavaKeys::External), vec![3, 0, 2, 1]);
        let words = "k236 k164 k485 k44 k380 k254 k968 k649 k850 k534 k200 k712 k708 k911 \
            k495 k662 k961 k738 k307 k279 k842 k924 k883 k51 k718 k4 k239 k400 k576 k811 k123 \
            k73 k679 k891 k535 k492 k818 k506 k646 k234 k325 k880 k673 k47 k333 k395 k512 k289 \
            k276 k652 k12 k245 k194 k170 k844 k452 k208 k565 k226 k157";
        let k = StringArray::from(words.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            order(&k, JavaKeys::External),
            vec![
                37, 12, 31, 4, 15, 58, 18, 17, 36, 25, 3, 43, 35, 14, 33, 5, 55, 28, 8, 44, 49, 9,
                29, 34, 6, 7, 21, 23, 50, 53, 41, 1, 10, 30, 2, 16, 27, 57, 22, 47, 51, 20, 40, 38,
                54, 56, 24, 52, 45, 42, 48, 19, 39, 59, 46, 0, 11, 26, 32, 13
            ]
        );
    }

    #[test]
    fn json_maps_take_the_generic_map_data_layout() {
        use arrow::array::MapBuilder;
        use arrow::array::StringBuilder;
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        // {"size": "L", "color": null, "size": "XL"}, NULL, {}
        b.keys().append_value("size");
        b.values().append_value("L");
        b.keys().append_value("color");
        b.values().append_null();
        b.keys().append_value("size");
        b.values().append_value("XL");
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.append(true).unwrap();
        let m: ArrayRef = Arc::new(b.finish());
        let out = to_generic_map_layout(&m).unwrap();
        let text = |row: usize, f: crate::FlinkFormatter| {
            let mut s = String::new();
            f.write_value(out.as_ref(), row, &mut s);
            s
        };
        assert_eq!(text(0, crate::FlinkFormatter::Sql), "{color=null, size=XL}");
        assert_eq!(
            text(0, crate::FlinkFormatter::Print),
            "{color=null, size=XL}"
        );
        assert_eq!(text(1, crate::FlinkFormatter::Print), "null");
        assert_eq!(text(2, crate::FlinkFormatter::Print), "{}");
    }

    #[test]
    fn duplicates_replace_in_place_and_tables_grow() {
        let k = StringArray::from(vec![Some("b"), None, Some("a"), Some("b")]);
        assert_eq!(
            java_hash_map_order(&k, 0..4, JavaKeys::External).unwrap(),
            vec![(1, 1), (2, 2), (0, 3)]
        );
        // 13 keys exceed the threshold of 12: the table doubles to 32 buckets.
        let k = Int32Array::from((0..13).map(|i| i * 31).collect::<Vec<i32>>());
        assert_eq!(
            order(&k, JavaKeys::External),
            vec![0, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
        );
        // A ninth key in one bucket of a small table: treeifyBin resizes instead.
        let k = Int64Array::from((0..13).map(|i| i * 16).collect::<Vec<i64>>());
        assert_eq!(
            order(&k, JavaKeys::External),
            vec![0, 2, 4, 6, 8, 10, 12, 1, 3, 5, 7, 9, 11]
        );
        let k = Int32Array::from((0..9).map(|i| i * 16).collect::<Vec<i32>>());
        assert_eq!(
            order(&k, JavaKeys::External),
            vec![0, 2, 4, 6, 8, 1, 3, 5, 7]
        );
    }
}
