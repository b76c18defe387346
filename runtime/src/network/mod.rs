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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use self::frame::{Decoder, Encoder, Frame};
use crate::dataflow::Message;
use crate::error::{Result, RunnelError};

/// The id of a logical channel: the deployment it belongs to (high half), so channels of a
/// job's earlier deployment never mix with the current one's, and its number within it.
pub fn channel_id(deployment: u32, index: u32) -> u64 {
    (u64::from(deployment) << 32) | u64::from(index)
}

/// The deployment a channel belongs to.
pub fn deployment_of(channel: u64) -> u32 {
    (channel >> 32) as u32
}

/// A connection broke while channels on it were open (not yet at their end): their
/// deployment cannot go on.
#[derive(Debug)]
pub struct Fault {
    /// The other TaskManager's data address.
    pub peer: SocketAddr,
    /// The channels cut.
    pub channels: Vec<u64>,
    /// What happened.
    pub error: String,
}

/// Where faults are reported.
pub type Faults = mpsc::UnboundedSender<Fault>;

/// Makes a data connection notice a silent peer (a partition, a frozen machine) within
/// `timeout`: keepalive probes while it is idle, and a limit on how long sent data may stay
/// unacknowledged. Without them a partitioned connection waits for credit or data forever.
fn tune(stream: &TcpStream, peer: SocketAddr, timeout: Duration) -> Result<()> {
    stream.set_nodelay(true).map_err(|e| lost(peer, e))?;
    let probe = (timeout / 4).max(Duration::from_secs(1));
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(probe)
        .with_interval(probe)
        .with_retries(3);
    let sock = socket2::SockRef::from(stream);
    sock.set_tcp_keepalive(&keepalive)
        .and_then(|()| sock.set_tcp_user_timeout(Some(timeout)))
        .map_err(|e| lost(peer, e))
}

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

/// Writes what it is given to the socket, in order; a failed write is handed to `failed`.
fn spawn_writer(
    mut w: OwnedWriteHalf,
    peer: SocketAddr,
    failed: impl FnOnce(RunnelError) + Send + 'static,
) -> mpsc::UnboundedSender<Vec<u8>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(e) = w.write_all(&bytes).await {
                failed(lost(peer, e));
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    tx
}

/// Credits of the channels of one outbound connection that have not sent their end.
type Credits = Arc<Mutex<HashMap<u64, Arc<Semaphore>>>>;

/// The connection is gone: senders waiting for credit give up, and the channels that had not
/// sent their end are reported (once: the map is emptied).
fn fail_channels(credits: &Credits, faults: &Faults, peer: SocketAddr, error: &RunnelError) {
    let open: Vec<u64> = {
        let mut credits = credits.lock().expect("credits");
        for s in credits.values() {
            s.close();
        }
        credits.drain().map(|(ch, _)| ch).collect()
    };
    if !open.is_empty() {
        let _ = faults.send(Fault {
            peer,
            channels: open,
            error: error.to_string(),
        });
    }
}

/// The sending side of a connection to another TaskManager's [`DataServer`].
pub struct Outbound {
    peer: SocketAddr,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    credits: Credits,
}

impl Outbound {
    /// Connects to the data server at `addr` as the TaskManager whose data address is
    /// `from`; if the connection breaks (or its peer stays silent for `timeout`) while
    /// channels are open, they are reported to `faults`.
    pub async fn connect(
        addr: SocketAddr,
        from: SocketAddr,
        faults: Faults,
        timeout: Duration,
    ) -> Result<Self> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(lost(addr, format!("cannot connect: {e}"))),
            Err(_) => {
                return Err(lost(
                    addr,
                    format!("cannot connect within {} ms", timeout.as_millis()),
                ));
            }
        };
        tune(&stream, addr, timeout)?;
        let (r, w) = stream.into_split();
        let credits: Credits = Arc::default();
        let reader_credits = credits.clone();
        let reader_faults = faults.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(r);
            // Only credit frames come back; anything else ends the connection.
            let ended = loop {
                let body = match read_frame(&mut r, addr).await {
                    Ok(Some(body)) => body,
                    Ok(None) => break lost(addr, "closed by the other side"),
                    Err(e) => break e,
                };
                let parsed = frame::split(&body).and_then(|(k, ch, p)| frame::control(k, ch, p));
                match parsed {
                    Ok(Frame::Credit(ch, n)) => {
                        let sem = reader_credits.lock().expect("credits").get(&ch).cloned();
                        // A channel that already sent its end needs no more credit.
                        if let Some(s) = sem {
                            s.add_permits(n as usize);
                        }
                    }
                    Ok(Frame::Close(ch)) => {
                        // Its consumer ended: the producer's next send fails, as it would
                        // on a local channel.
                        if let Some(s) = reader_credits.lock().expect("credits").remove(&ch) {
                            s.close();
                        }
                    }
                    Ok(other) => break lost(addr, format!("unexpected {other:?}")),
                    Err(e) => break e,
                }
            };
            fail_channels(&reader_credits, &reader_faults, addr, &ended);
        });
        let writer_credits = credits.clone();
        let writer = spawn_writer(w, addr, move |e| {
            fail_channels(&writer_credits, &faults, addr, &e);
        });
        let mut hello = Vec::new();
        frame::hello(from, &mut hello);
        let _ = writer.send(hello);
        Ok(Outbound {
            peer: addr,
            writer,
            credits,
        })
    }

    /// Opens `channel` on this connection: messages sent into the returned sender (which holds
    /// `capacity` of them) cross as the receiver grants credit, in order.
    pub fn channel(&self, channel: u64, capacity: usize) -> mpsc::Sender<Message> {
        let (tx, mut rx) = mpsc::channel::<Message>(capacity.max(1));
        let credit = Arc::new(Semaphore::new(0));
        self.credits
            .lock()
            .expect("credits")
            .insert(channel, credit.clone());
        let writer = self.writer.clone();
        let peer = self.peer;
        let credits = self.credits.clone();
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
                if matches!(message, Message::EndOfInput) {
                    credits.lock().expect("credits").remove(&channel);
                    return;
                }
            }
            // The producer went away without an end (its deployment was cancelled).
            credits.lock().expect("credits").remove(&channel);
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
    slots: HashMap<u64, Slot>,
    /// Channels opened by a sender before anyone registered them here.
    opened: HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>,
    /// Deployments whose channels were released: frames still on their way are dropped.
    released: HashSet<u32>,
    /// Channels whose consumer ended: their sender is told to stop, what still comes is
    /// dropped.
    closed: HashSet<u64>,
}

/// The receiving side of a TaskManager: accepts connections from other TaskManagers and
/// hands each registered channel's messages to its consumer.
pub struct DataServer {
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
}

impl DataServer {
    /// Listens on `addr` (port 0: any free port); a connection that breaks (or whose peer
    /// stays silent for `timeout`) while channels on it are open reports them to `faults`
    /// and closes them.
    pub async fn bind(addr: SocketAddr, faults: Faults, timeout: Duration) -> Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            RunnelError::Network(format!("data server cannot listen on {addr}: {e}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| RunnelError::Network(format!("data server address: {e}")))?;
        let registry: Arc<Mutex<Registry>> = Arc::default();
        let accepted = registry.clone();
        tokio::spawn(async move {
            while let Ok((stream, socket)) = listener.accept().await {
                if let Err(e) = tune(&stream, socket, timeout) {
                    eprintln!("runnel: {e}");
                }
                let registry = accepted.clone();
                let faults = faults.clone();
                tokio::spawn(serve(stream, socket, registry, faults));
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
    pub fn register(&self, channel: u64, credits: u32, capacity: usize) -> mpsc::Receiver<Message> {
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
        // Each message the consumer's queue accepts frees one credit; a consumer that goes
        // away closes the channel for its sender.
        let registry = self.registry.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = queue_rx.recv() => m,
                    () = out_tx.closed() => break,
                };
                let Some(message) = message else {
                    return; // released, or its connection broke
                };
                if out_tx.send(message).await.is_err() {
                    break;
                }
                let mut reg = registry.lock().expect("registry");
                if let Some(slot) = reg.slots.get_mut(&channel)
                    && let Some(conn) = &slot.connection
                {
                    slot.available += 1;
                    grant(conn, channel, 1);
                }
            }
            let mut reg = registry.lock().expect("registry");
            reg.closed.insert(channel);
            if let Some(conn) = reg.slots.remove(&channel).and_then(|s| s.connection) {
                let mut bytes = Vec::new();
                frame::close(channel, &mut bytes);
                let _ = conn.send(bytes);
            }
        });
        out_rx
    }

    /// Forgets the channels of `deployment` (it ended or was cancelled); what still arrives
    /// for them is dropped.
    pub fn release(&self, deployment: u32) {
        let mut reg = self.registry.lock().expect("registry");
        reg.slots.retain(|ch, _| deployment_of(*ch) != deployment);
        reg.opened.retain(|ch, _| deployment_of(*ch) != deployment);
        reg.closed.retain(|ch| deployment_of(*ch) != deployment);
        reg.released.insert(deployment);
    }
}

fn grant(conn: &mpsc::UnboundedSender<Vec<u8>>, channel: u64, credits: u32) {
    let mut bytes = Vec::new();
    frame::credit(channel, credits, &mut bytes);
    let _ = conn.send(bytes);
}

/// Reads one connection's frames into the registered channels; when it ends, the channels
/// it carried that had not ended are closed and reported, naming the sender by the data
/// address its hello announced.
async fn serve(
    stream: TcpStream,
    socket: SocketAddr,
    registry: Arc<Mutex<Registry>>,
    faults: Faults,
) {
    let (r, w) = stream.into_split();
    let mut r = BufReader::new(r);
    let peer = match read_frame(&mut r, socket).await {
        Ok(Some(body)) => match frame::split(&body).and_then(|(k, ch, p)| frame::control(k, ch, p))
        {
            Ok(Frame::Hello(from)) => from,
            Ok(other) => {
                eprintln!(
                    "runnel: {}",
                    lost(socket, format!("{other:?} before a hello"))
                );
                return;
            }
            Err(e) => {
                eprintln!("runnel: {}", lost(socket, e));
                return;
            }
        },
        // Closed before it said anything: no channel was open on it.
        Ok(None) => return,
        Err(e) => {
            eprintln!("runnel: {e}");
            return;
        }
    };
    let mut open = HashSet::new();
    let error = match read_channels(r, w, peer, &registry, &mut open).await {
        Ok(()) => lost(peer, "closed by the other side"),
        Err(e) => e,
    };
    let mut reg = registry.lock().expect("registry");
    let cut: Vec<u64> = open
        .into_iter()
        .filter(|ch| reg.slots.remove(ch).is_some())
        .collect();
    drop(reg);
    if !cut.is_empty() {
        let _ = faults.send(Fault {
            peer,
            channels: cut,
            error: error.to_string(),
        });
    }
}

async fn read_channels(
    mut r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    peer: SocketAddr,
    registry: &Mutex<Registry>,
    open: &mut HashSet<u64>,
) -> Result<()> {
    // A failed write ends the reads too: the connection is dropped and its channels cut.
    let writer = spawn_writer(w, peer, |e| eprintln!("runnel: {e}"));
    let mut decoders: HashMap<u64, Decoder> = HashMap::new();
    while let Some(body) = read_frame(&mut r, peer).await? {
        let (kind, channel, payload) = frame::split(&body)?;
        let (released, closed) = {
            let reg = registry.lock().expect("registry");
            (
                reg.released.contains(&deployment_of(channel)),
                reg.closed.contains(&channel),
            )
        };
        if released || closed {
            // Late frames of a cancelled deployment, or of a channel whose consumer ended
            // (told to its sender when it opens).
            if closed
                && frame::control(kind, channel, payload).is_ok_and(|f| matches!(f, Frame::Open(_)))
            {
                let mut bytes = Vec::new();
                frame::close(channel, &mut bytes);
                let _ = writer.send(bytes);
            }
            open.remove(&channel);
            decoders.remove(&channel);
            continue;
        }
        let message = if frame::is_data(kind) {
            Message::Data(decoders.entry(channel).or_default().data(payload)?)
        } else {
            match frame::control(kind, channel, payload)? {
                Frame::Open(ch) => {
                    let mut reg = registry.lock().expect("registry");
                    open.insert(ch);
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
                Frame::Credit(..) | Frame::Close(_) => {
                    return Err(lost(peer, "a receiver's frame from a sender"));
                }
                Frame::Hello(_) => return Err(lost(peer, "a second hello")),
            }
        };
        if matches!(message, Message::EndOfInput) {
            open.remove(&channel);
            decoders.remove(&channel);
        }
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
