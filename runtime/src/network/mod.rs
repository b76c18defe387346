//! The data plane between TaskManagers: a subtask's output channel to a subtask on another
//! machine is a logical channel of one TCP connection between the two TaskManagers, carrying
//! [`Message`]s as frames ([`frame`]), record batches as Arrow IPC.
//!
//! Flow control is credit-based, as Flink's: the receiving side grants a channel as many
//! frames as it can hold, and grants one more each time its consumer has taken one; the
//! sending side sends only with credit. A slow consumer thus holds back its producers, one
//! channel at a time, without unbounded buffering and without stalling the other channels of
//! the connection.

pub mod frame;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use self::frame::{Decoder, Encoder, Frame};
use crate::dataflow::Message;
use crate::error::{Result, RunnelError};

fn lost(peer: SocketAddr, e: impl std::fmt::Display) -> RunnelError {
    RunnelError::Network(format!("data connection with {peer}: {e}"))
}

/// Reads one frame body (after its length prefix); `None` at a clean end of stream.
async fn read_frame(r: &mut BufReader<OwnedReadHalf>, peer: SocketAddr) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(lost(peer, e)),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > frame::MAX_FRAME {
        return Err(lost(
            peer,
            format!("a frame of {len} bytes (at most {})", frame::MAX_FRAME),
        ));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.map_err(|e| lost(peer, e))?;
    Ok(Some(body))
}

/// Writes what it is given to the socket, in order.
fn spawn_writer(mut w: OwnedWriteHalf, peer: SocketAddr) -> mpsc::UnboundedSender<Vec<u8>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(e) = w.write_all(&bytes).await {
                eprintln!("runnel: {}", lost(peer, e));
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    tx
}

/// The sending side of a connection to another TaskManager's [`DataServer`].
pub struct Outbound {
    peer: SocketAddr,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    credits: Arc<Mutex<HashMap<u32, Arc<Semaphore>>>>,
}

impl Outbound {
    /// Connects to the data server at `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| lost(addr, format!("cannot connect: {e}")))?;
        stream.set_nodelay(true).map_err(|e| lost(addr, e))?;
        let (r, w) = stream.into_split();
        let credits: Arc<Mutex<HashMap<u32, Arc<Semaphore>>>> = Arc::default();
        let reader_credits = credits.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(r);
            // Only credit frames come back; anything else ends the connection.
            let ended = loop {
                let body = match read_frame(&mut r, addr).await {
                    Ok(Some(body)) => body,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                };
                let parsed = frame::split(&body).and_then(|(k, ch, p)| frame::control(k, ch, p));
                match parsed {
                    Ok(Frame::Credit(ch, n)) => {
                        let sem = reader_credits.lock().expect("credits").get(&ch).cloned();
                        match sem {
                            Some(s) => s.add_permits(n as usize),
                            None => {
                                break Some(lost(addr, format!("credit for unknown channel {ch}")));
                            }
                        }
                    }
                    Ok(other) => break Some(lost(addr, format!("unexpected {other:?}"))),
                    Err(e) => break Some(e),
                }
            };
            if let Some(e) = ended {
                eprintln!("runnel: {e}");
            }
            // Senders waiting for credit give up: the connection is gone.
            for s in reader_credits.lock().expect("credits").values() {
                s.close();
            }
        });
        Ok(Outbound {
            peer: addr,
            writer: spawn_writer(w, addr),
            credits,
        })
    }

    /// Opens `channel` on this connection: messages sent into the returned sender (which holds
    /// `capacity` of them) cross as the receiver grants credit, in order.
    pub fn channel(&self, channel: u32, capacity: usize) -> mpsc::Sender<Message> {
        let (tx, mut rx) = mpsc::channel::<Message>(capacity.max(1));
        let credit = Arc::new(Semaphore::new(0));
        self.credits
            .lock()
            .expect("credits")
            .insert(channel, credit.clone());
        let writer = self.writer.clone();
        let peer = self.peer;
        let mut open = Vec::new();
        frame::open(channel, &mut open);
        let _ = writer.send(open);
        tokio::spawn(async move {
            let mut encoder = Encoder::new(channel);
            while let Some(message) = rx.recv().await {
                // A closed semaphore: the connection is gone, and so is the channel.
                let Ok(permit) = credit.acquire().await else {
                    return;
                };
                permit.forget();
                let mut bytes = Vec::new();
                if let Err(e) = encoder.message(&message, &mut bytes) {
                    eprintln!("runnel: {}", lost(peer, e));
                    return;
                }
                if writer.send(bytes).is_err() {
                    return;
                }
            }
        });
        tx
    }
}

/// A registered receiving channel: where its messages go and how much it may have in flight.
struct Slot {
    /// Frames of the channel not yet taken by the consumer's side (at most its credits).
    queue: mpsc::UnboundedSender<Message>,
    /// Credits granted when the channel opens.
    initial: u32,
    /// Credits granted and not yet used: a frame beyond them breaks the protocol.
    available: i64,
    /// The connection its frames come on, once it opened: credits go back there.
    connection: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

#[derive(Default)]
struct Registry {
    slots: HashMap<u32, Slot>,
    /// Channels opened by a sender before anyone registered them here.
    opened: HashMap<u32, mpsc::UnboundedSender<Vec<u8>>>,
}

/// The receiving side of a TaskManager: accepts connections from other TaskManagers and
/// hands each registered channel's messages to its consumer.
pub struct DataServer {
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
}

impl DataServer {
    /// Listens on `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            RunnelError::Network(format!("data server cannot listen on {addr}: {e}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| RunnelError::Network(format!("data server address: {e}")))?;
        let registry: Arc<Mutex<Registry>> = Arc::default();
        let accepted = registry.clone();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let registry = accepted.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, peer, registry).await {
                        eprintln!("runnel: {e}");
                    }
                });
            }
        });
        Ok(DataServer { addr, registry })
    }

    /// Where other TaskManagers connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers `channel`: its messages come out of the returned receiver, in order. The
    /// sender may have `credits` frames in flight beyond what the receiver holds (`capacity`).
    pub fn register(&self, channel: u32, credits: u32, capacity: usize) -> mpsc::Receiver<Message> {
        let (out_tx, out_rx) = mpsc::channel(capacity.max(1));
        let (queue_tx, mut queue_rx) = mpsc::unbounded_channel::<Message>();
        let mut reg = self.registry.lock().expect("registry");
        let connection = reg.opened.remove(&channel);
        if let Some(conn) = &connection {
            grant(conn, channel, credits);
        }
        let available = if connection.is_some() {
            i64::from(credits)
        } else {
            0
        };
        reg.slots.insert(
            channel,
            Slot {
                queue: queue_tx,
                initial: credits,
                available,
                connection,
            },
        );
        drop(reg);
        // Each message the consumer's queue accepts frees one credit.
        let registry = self.registry.clone();
        tokio::spawn(async move {
            while let Some(message) = queue_rx.recv().await {
                if out_tx.send(message).await.is_err() {
                    return;
                }
                let mut reg = registry.lock().expect("registry");
                if let Some(slot) = reg.slots.get_mut(&channel)
                    && let Some(conn) = &slot.connection
                {
                    slot.available += 1;
                    grant(conn, channel, 1);
                }
            }
        });
        out_rx
    }
}

fn grant(conn: &mpsc::UnboundedSender<Vec<u8>>, channel: u32, credits: u32) {
    let mut bytes = Vec::new();
    frame::credit(channel, credits, &mut bytes);
    let _ = conn.send(bytes);
}

/// Reads one connection's frames into the registered channels.
async fn serve(stream: TcpStream, peer: SocketAddr, registry: Arc<Mutex<Registry>>) -> Result<()> {
    let (r, w) = stream.into_split();
    let writer = spawn_writer(w, peer);
    let mut r = BufReader::new(r);
    let mut decoders: HashMap<u32, Decoder> = HashMap::new();
    while let Some(body) = read_frame(&mut r, peer).await? {
        let (kind, channel, payload) = frame::split(&body)?;
        let message = if frame::is_data(kind) {
            Message::Data(decoders.entry(channel).or_default().data(payload)?)
        } else {
            match frame::control(kind, channel, payload)? {
                Frame::Open(ch) => {
                    let mut reg = registry.lock().expect("registry");
                    match reg.slots.get_mut(&ch) {
                        Some(slot) => {
                            grant(&writer, ch, slot.initial);
                            slot.available += i64::from(slot.initial);
                            slot.connection = Some(writer.clone());
                        }
                        None => {
                            reg.opened.insert(ch, writer.clone());
                        }
                    }
                    continue;
                }
                Frame::Message(_, m) => m,
                Frame::Credit(..) => return Err(lost(peer, "a credit frame from a sender")),
            }
        };
        let mut reg = registry.lock().expect("registry");
        let slot = reg
            .slots
            .get_mut(&channel)
            .ok_or_else(|| lost(peer, format!("a frame for unregistered channel {channel}")))?;
        slot.available -= 1;
        if slot.available < 0 {
            return Err(lost(
                peer,
                format!("channel {channel} sent beyond its credit"),
            ));
        }
        // A consumer that is gone (its task ended) drops what still comes.
        let _ = slot.queue.send(message);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
