//! The wire format of the data plane: length-prefixed frames, each for one logical channel.
//!
//! ```text
//! u32 length (LE, of what follows) | u8 kind | u64 channel (LE) | payload
//! ```
//!
//! Data frames carry the row kinds and the batch as an Arrow IPC stream message; each channel
//! keeps one IPC stream per direction, so its schema crosses the wire once.

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::Int8Array;
use arrow::buffer::Buffer;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use runnel_types::ChangeBatch;

use crate::dataflow::{Barrier, Message};
use crate::error::{Result, RunnelError};

/// The largest frame accepted: anything longer is a corrupt or hostile stream.
pub const MAX_FRAME: usize = 256 << 20;

const DATA: u8 = 0;
const WATERMARK: u8 = 1;
const BARRIER: u8 = 2;
const IDLE: u8 = 3;
const END: u8 = 4;
/// Receiver to sender: this many more frames may be sent on the channel.
const CREDIT: u8 = 5;
/// Sender to receiver: the channel's frames come on this connection.
const OPEN: u8 = 6;
/// Receiver to sender: the channel's consumer is gone; send nothing more on it.
const CLOSE: u8 = 7;
/// Sender to receiver, first on a connection: the sender's own data address, so faults on
/// the receiving side name the TaskManager rather than the connection's ephemeral port.
const HELLO: u8 = 8;

/// One decoded frame.
#[derive(Debug)]
pub enum Frame {
    /// A message of the channel.
    Message(u64, Message),
    /// Credits granted for the channel.
    Credit(u64, u32),
    /// The channel opens on this connection.
    Open(u64),
    /// The channel's consumer is gone.
    Close(u64),
    /// The sender's data address.
    Hello(SocketAddr),
}

fn corrupt(what: impl std::fmt::Display) -> RunnelError {
    RunnelError::Network(format!("corrupt data-plane frame: {what}"))
}

/// Bytes of a frame's header after its length: kind and channel.
const HEADER: usize = 9;

fn header(out: &mut Vec<u8>, kind: u8, channel: u64, payload: usize) {
    out.extend_from_slice(&((HEADER + payload) as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&channel.to_le_bytes());
}

/// Encodes a channel's frames, keeping its IPC stream (the schema is written once).
pub struct Encoder {
    channel: u64,
    stream: Option<StreamWriter<Vec<u8>>>,
}

impl Encoder {
    /// An encoder for `channel`.
    pub fn new(channel: u64) -> Self {
        Encoder {
            channel,
            stream: None,
        }
    }

    /// Appends `message` as one frame to `out`.
    pub fn message(&mut self, message: &Message, out: &mut Vec<u8>) -> Result<()> {
        let ch = self.channel;
        match message {
            Message::Data(batch) => {
                let ipc = self.ipc(&batch.data)?;
                let kinds = batch.kinds.as_ref().map(|k| k.values().inner().as_slice());
                let payload = 1 + kinds.map_or(0, |k| 4 + k.len()) + ipc.len();
                header(out, DATA, ch, payload);
                match kinds {
                    Some(k) => {
                        out.push(1);
                        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                        out.extend_from_slice(k);
                    }
                    None => out.push(0),
                }
                out.extend_from_slice(&ipc);
            }
            Message::Watermark(w) => {
                header(out, WATERMARK, ch, 8);
                out.extend_from_slice(&w.to_le_bytes());
            }
            Message::Barrier(b) => {
                header(out, BARRIER, ch, 17);
                out.extend_from_slice(&b.id.to_le_bytes());
                out.extend_from_slice(&b.timestamp.to_le_bytes());
                out.push(u8::from(b.savepoint));
            }
            Message::Idle => header(out, IDLE, ch, 0),
            Message::EndOfInput => header(out, END, ch, 0),
        }
        Ok(())
    }

    /// The IPC bytes of `batch`: the schema first, on the channel's first batch.
    fn ipc(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => self
                .stream
                .insert(StreamWriter::try_new(Vec::new(), &batch.schema())?),
        };
        stream.write(batch)?;
        Ok(std::mem::take(stream.get_mut()))
    }
}

/// Appends a credit frame.
pub fn credit(channel: u64, credits: u32, out: &mut Vec<u8>) {
    header(out, CREDIT, channel, 4);
    out.extend_from_slice(&credits.to_le_bytes());
}

/// Appends a close frame.
pub fn close(channel: u64, out: &mut Vec<u8>) {
    header(out, CLOSE, channel, 0);
}

/// Appends a hello frame announcing `from`, the sender's data address.
pub fn hello(from: SocketAddr, out: &mut Vec<u8>) {
    let address = from.to_string();
    header(out, HELLO, 0, address.len());
    out.extend_from_slice(address.as_bytes());
}

/// Appends an open frame.
pub fn open(channel: u64, out: &mut Vec<u8>) {
    header(out, OPEN, channel, 0);
}

/// Decodes a channel's data frames, keeping its IPC stream.
#[derive(Default)]
pub struct Decoder {
    stream: StreamDecoder,
}

/// Splits a frame body (after the length) into kind, channel and payload.
pub fn split(body: &[u8]) -> Result<(u8, u64, &[u8])> {
    if body.len() < HEADER {
        return Err(corrupt(format!(
            "{} bytes, a header needs {HEADER}",
            body.len()
        )));
    }
    let channel = u64::from_le_bytes(body[1..HEADER].try_into().expect("8 bytes"));
    Ok((body[0], channel, &body[HEADER..]))
}

/// Decodes a frame that is not a data frame (data frames need their channel's [`Decoder`]).
pub fn control(kind: u8, channel: u64, p: &[u8]) -> Result<Frame> {
    let fixed = |n: usize| -> Result<&[u8]> {
        if p.len() == n {
            Ok(p)
        } else {
            Err(corrupt(format!(
                "kind {kind} on channel {channel} has {} payload bytes, not {n}",
                p.len()
            )))
        }
    };
    let u64_at = |p: &[u8], i: usize| u64::from_le_bytes(p[i..i + 8].try_into().expect("8 bytes"));
    Ok(match kind {
        WATERMARK => Frame::Message(channel, Message::Watermark(u64_at(fixed(8)?, 0) as i64)),
        BARRIER => {
            let p = fixed(17)?;
            Frame::Message(
                channel,
                Message::Barrier(Barrier {
                    id: u64_at(p, 0),
                    timestamp: u64_at(p, 8) as i64,
                    savepoint: p[16] != 0,
                }),
            )
        }
        IDLE => {
            fixed(0)?;
            Frame::Message(channel, Message::Idle)
        }
        END => {
            fixed(0)?;
            Frame::Message(channel, Message::EndOfInput)
        }
        CREDIT => Frame::Credit(
            channel,
            u32::from_le_bytes(fixed(4)?.try_into().expect("4 bytes")),
        ),
        OPEN => {
            fixed(0)?;
            Frame::Open(channel)
        }
        CLOSE => {
            fixed(0)?;
            Frame::Close(channel)
        }
        HELLO => Frame::Hello(
            std::str::from_utf8(p)
                .ok()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| corrupt("a hello without a data address"))?,
        ),
        DATA => return Err(corrupt("a data frame decoded without its channel's stream")),
        other => return Err(corrupt(format!("unknown kind {other}"))),
    })
}

/// Whether a frame of `kind` is a data frame.
pub fn is_data(kind: u8) -> bool {
    kind == DATA
}

impl Decoder {
    /// Decodes a data frame's payload.
    pub fn data(&mut self, p: &[u8]) -> Result<ChangeBatch> {
        let (kinds, ipc) = match p.first() {
            Some(0) => (None, &p[1..]),
            Some(1) if p.len() >= 5 => {
                let n = u32::from_le_bytes(p[1..5].try_into().expect("4 bytes")) as usize;
                let end = 5 + n;
                let k = p
                    .get(5..end)
                    .ok_or_else(|| corrupt("row kinds beyond the frame"))?;
                let kinds: Int8Array = k.iter().map(|b| *b as i8).collect::<Vec<_>>().into();
                (Some(Arc::new(kinds)), &p[end..])
            }
            _ => return Err(corrupt("a data frame without its row-kind flag")),
        };
        let mut buffer = Buffer::from(ipc.to_vec());
        let mut batch = None;
        while !buffer.is_empty() {
            if let Some(b) = self.stream.decode(&mut buffer)? {
                batch = Some(b);
            }
        }
        let data = batch.ok_or_else(|| corrupt("a data frame without a record batch"))?;
        if kinds.as_ref().is_some_and(|k| k.len() != data.num_rows()) {
            return Err(corrupt("row kinds and rows differ in number"));
        }
        Ok(ChangeBatch { data, kinds })
    }
}
