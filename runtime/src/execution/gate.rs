use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc;

use crate::dataflow::{Barrier, Message};

struct Channel {
    rx: mpsc::Receiver<Message>,
    input: usize,
    watermark: i64,
    ended: bool,
    /// Delivered the barrier being aligned; not read until the others have.
    blocked: bool,
}

/// A barrier arriving on some channels but not yet on all.
struct Alignment {
    barrier: Barrier,
    arrived: usize,
}

/// What the gate hands the task: a message and the input it arrived on.
pub(crate) enum GateEvent {
    /// Rows (or a barrier) on `input`.
    Message(usize, Message),
    /// The watermark minimum over all channels rose.
    Watermark(i64),
    /// A checkpoint barrier has arrived on every open channel (aligned): everything before it
    /// has been delivered and nothing after it.
    Barrier(Barrier),
    /// Every channel has ended.
    End,
    /// A producer went away without ending its channel: it stopped (after a
    /// stop-with-savepoint) or failed. Not an end of input: nothing may be flushed.
    Gone,
}

/// The receiving side of a subtask: all channels of all inputs, with watermarks min-combined
/// over channels and end of input counted per channel.
pub(crate) struct InputGate {
    channels: Vec<Channel>,
    next: usize,
    combined: i64,
    open: usize,
    /// Exactly-once alignment blocks channels that delivered the barrier; at-least-once only
    /// counts them.
    block_on_barrier: bool,
    aligning: Option<Alignment>,
}

impl InputGate {
    pub(crate) fn new(receivers: Vec<(usize, mpsc::Receiver<Message>)>) -> Self {
        Self::with_alignment(receivers, true)
    }

    /// A gate whose barriers block channels while aligning (`exactly_once`) or not.
    pub(crate) fn with_alignment(
        receivers: Vec<(usize, mpsc::Receiver<Message>)>,
        exactly_once: bool,
    ) -> Self {
        let open = receivers.len();
        InputGate {
            channels: receivers
                .into_iter()
                .map(|(input, rx)| Channel {
                    rx,
                    input,
                    watermark: i64::MIN,
                    ended: false,
                    blocked: false,
                })
                .collect(),
            next: 0,
            combined: i64::MIN,
            open,
            block_on_barrier: exactly_once,
            aligning: None,
        }
    }

    /// Waits for the next event, taking channels in turn so none starves.
    pub(crate) async fn next(&mut self) -> GateEvent {
        loop {
            if self.open == 0 {
                return GateEvent::End;
            }
            let (idx, msg) = poll_fn(|cx| {
                let n = self.channels.len();
                for k in 0..n {
                    let i = (self.next + k) % n;
                    let ch = &mut self.channels[i];
                    if ch.ended || ch.blocked {
                        continue;
                    }
                    match ch.rx.poll_recv(cx) {
                        Poll::Ready(Some(m)) => {
                            self.next = (i + 1) % n;
                            return Poll::Ready((i, Some(m)));
                        }
                        Poll::Ready(None) => return Poll::Ready((i, None)),
                        Poll::Pending => {}
                    }
                }
                Poll::Pending
            })
            .await;
            match msg {
                Some(Message::Watermark(w)) => {
                    let ch = &mut self.channels[idx];
                    if w > ch.watermark {
                        ch.watermark = w;
                        if let Some(wm) = self.advance() {
                            return GateEvent::Watermark(wm);
                        }
                    }
                }
                Some(Message::Barrier(b)) => {
                    if let Some(done) = self.on_barrier(idx, b) {
                        return GateEvent::Barrier(done);
                    }
                }
                None if !self.channels[idx].ended => return GateEvent::Gone,
                Some(Message::EndOfInput) | None => {
                    let ch = &mut self.channels[idx];
                    if !ch.ended {
                        ch.ended = true;
                        ch.watermark = i64::MAX;
                        self.open -= 1;
                    }
                    // An ended channel sends no barrier: the alignment may be complete now.
                    if let Some(done) = self.check_aligned() {
                        return GateEvent::Barrier(done);
                    }
                    // When the last channel ends the minimum becomes MAX: the final watermark
                    // that flushes every pending timer, as at the end of a bounded Flink job.
                    if let Some(wm) = self.advance() {
                        return GateEvent::Watermark(wm);
                    }
                }
                Some(m) => return GateEvent::Message(self.channels[idx].input, m),
            }
        }
    }

    /// Records a barrier from channel `idx`; returns it once every open channel delivered it.
    fn on_barrier(&mut self, idx: usize, b: Barrier) -> Option<Barrier> {
        match &mut self.aligning {
            Some(a) if a.barrier.id == b.id => a.arrived += 1,
            // An older checkpoint's barrier after a newer one started: that one was abandoned.
            Some(a) if b.id < a.barrier.id => return None,
            _ => {
                // A newer barrier overtakes an unfinished alignment: give up the old one.
                self.unblock();
                self.aligning = Some(Alignment {
                    barrier: b,
                    arrived: 1,
                });
            }
        }
        self.channels[idx].blocked = self.block_on_barrier;
        self.check_aligned()
    }

    fn check_aligned(&mut self) -> Option<Barrier> {
        let a = self.aligning.as_ref()?;
        let waiting = self
            .channels
            .iter()
            .filter(|c| !c.ended && !c.blocked)
            .count();
        let complete = if self.block_on_barrier {
            waiting == 0
        } else {
            a.arrived >= self.open
        };
        if !complete {
            return None;
        }
        let barrier = a.barrier;
        self.aligning = None;
        self.unblock();
        Some(barrier)
    }

    fn unblock(&mut self) {
        for c in &mut self.channels {
            c.blocked = false;
        }
    }

    fn advance(&mut self) -> Option<i64> {
        let min = self
            .channels
            .iter()
            .map(|c| c.watermark)
            .min()
            .unwrap_or(i64::MAX);
        if min > self.combined {
            self.combined = min;
            Some(min)
        } else {
            None
        }
    }
}
