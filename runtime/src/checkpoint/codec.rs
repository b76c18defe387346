//! The byte encoding of state in checkpoints: LEB128 integers and length-prefixed bytes, so a
//! snapshot is compact and can be read back without a schema.

use crate::error::{Result, RunnelError};

/// Appends values to a state blob.
#[derive(Default, Debug, Clone)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// An unsigned integer.
    pub fn u64(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// A signed integer (zig-zag, so small negatives stay short).
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A 128-bit integer (decimal sums), fixed width.
    pub fn i128(&mut self, v: i128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A float, bit for bit.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// A flag.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// Makes room for `additional` more bytes (one allocation instead of repeated growth).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Bytes that are already encoded (a value copied from elsewhere), as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The blob.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads values back in the order they were written; every read fails cleanly on a truncated
/// or corrupt blob instead of panicking.
#[derive(Debug)]
pub struct StateReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> StateReader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        StateReader { buf, pos: 0 }
    }

    fn corrupt(&self, what: &str) -> RunnelError {
        RunnelError::State(format!(
            "corrupt state blob: {what} at byte {} of {}",
            self.pos,
            self.buf.len()
        ))
    }

    /// Reads an unsigned integer.
    pub fn u64(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| self.corrupt("truncated integer"))?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("integer longer than 10 bytes"))
    }

    /// Reads a count that must fit the remaining bytes (one byte per element at least).
    pub fn count(&mut self) -> Result<usize> {
        let n = self.u64()? as usize;
        if n > self.buf.len() - self.pos {
            return Err(self.corrupt("length beyond the end"));
        }
        Ok(n)
    }

    /// Reads a signed integer.
    pub fn i64(&mut self) -> Result<i64> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.pos + N;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.corrupt("truncated value"))?;
        self.pos = end;
        Ok(bytes.try_into().expect("slice of N bytes"))
    }

    /// Reads a 128-bit integer.
    pub fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.fixed()?))
    }

    /// Reads a float.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(u64::from_le_bytes(self.fixed()?)))
    }

    /// Reads a flag.
    pub fn bool(&mut self) -> Result<bool> {
        match self.fixed::<1>()?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt("flag that is neither 0 nor 1")),
        }
    }

    /// Reads a byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.count()?;
        let v = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(v)
    }

    /// Runs `read` and also returns the bytes it consumed, to keep them encoded.
    pub fn read_raw<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<(T, &'a [u8])> {
        let start = self.pos;
        let value = read(self)?;
        Ok((value, &self.buf[start..self.pos]))
    }

    /// Whether everything was read.
    pub fn is_at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Fails unless everything was read: leftovers mean writer and reader disagree.
    pub fn finish(&self) -> Result<()> {
        if self.is_at_end() {
            Ok(())
        } else {
            Err(self.corrupt("unread bytes at the end"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut w = StateWriter::default();
        for v in [0u64, 1, 127, 128, u64::MAX] {
            w.u64(v);
        }
        for v in [0i64, -1, 63, -64, i64::MIN, i64::MAX] {
            w.i64(v);
        }
        w.i128(-170141183460469231731687303715884105728);
        w.f64(-0.5);
        w.bool(true);
        w.bytes(b"key");
        let bytes = w.into_bytes();
        let mut r = StateReader::new(&bytes);
        for v in [0u64, 1, 127, 128, u64::MAX] {
            assert_eq!(r.u64().unwrap(), v);
        }
        for v in [0i64, -1, 63, -64, i64::MIN, i64::MAX] {
            assert_eq!(r.i64().unwrap(), v);
        }
        assert_eq!(r.i128().unwrap(), i128::MIN);
        assert_eq!(r.f64().unwrap(), -0.5);
        assert!(r.bool().unwrap());
        assert_eq!(r.bytes().unwrap(), b"key");
        r.finish().unwrap();
    }

    #[test]
    fn truncated_blobs_are_errors() {
        let mut w = StateWriter::default();
        w.bytes(b"abcdef");
        let bytes = w.into_bytes();
        let mut r = StateReader::new(&bytes[..4]);
        let err = r.bytes().unwrap_err().to_string();
        assert!(err.contains("length beyond the end"), "{err}");
        let mut r = StateReader::new(&[0x80]);
        assert!(r.u64().is_err());
    }
}
