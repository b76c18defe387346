use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc;

use crate::dataflow::{Barrier, Message};

struct Channel {
    rx: mpsc::Receiver<Message>,
    input: usize,
    watermark: i64,
    ended: bool,
    /// Said it is idle: not part of the watermark minimum until it sends data or a watermark.
    idle: bool,
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
    /// Every open channel is idle: so is this subtask's output.
    Idle,
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
    /// Reported [`GateEvent::Idle`] and no channel woke up since.
    idle: bool,
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
                    idle: false,
                    blocked: false,
                })
                .collect(),
            next: 0,
            combined: i64::MIN,
            open,
            block_on_barrier: exactly_once,
            aligning: None,
            idle: false,
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
                Some(Message::Idle) => {
                    self.channels[idx].idle = true;
                    if let Some(wm) = self.advance() {
                        return GateEvent::Watermark(wm);
                    }
                    let all_idle = self.channels.iter().all(|c| c.ended || c.idle);
                    if all_idle && !self.idle {
                        self.idle = true;
                        return GateEvent::Idle;
                    }
                }
                Some(Message::Watermark(w)) => {
                    self.wake(idx);
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
                        ch.idle = false;
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
                Some(m) => {
                    if matches!(m, Message::Data(_)) {
                        self.wake(idx);
                    }
                    return GateEvent::Message(self.channels[idx].input, m);
                }
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

    /// Channel `idx` spoke again after saying it was idle.
    fn wake(&mut self, idx: usize) {
        if std::mem::take(&mut self.channels[idx].idle) {
            self.idle = false;
        }
    }

    /// The minimum over channels that are not idle; none while every open one is idle (an
    /// idle input may still send rows, so ended ones alone do not finish event time).
    fn advance(&mut self) -> Option<i64> {
        if self.channels.iter().any(|c| c.idle) && self.channels.iter().all(|c| c.idle || c.ended) {
            return None;
        }
        let min = self
            .channels
            .iter()
            .filter(|c| !c.idle)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use runnel_types::ChangeBatch;

    use super::*;

    fn data(v: i64) -> Message {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v]))]);
        Message::Data(ChangeBatch::inserts(batch.unwrap()))
    }

    fn value(ev: GateEvent) -> String {
        match ev {
            GateEvent::Message(_, Message::Data(b)) => {
                let col = b
                    .data
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                format!("data {}", col.value(0))
            }
            GateEvent::Barrier(b) => format!("barrier {}", b.id),
            GateEvent::Watermark(w) => format!("watermark {w}"),
            GateEvent::End => "end".into(),
            GateEvent::Gone => "gone".into(),
            GateEvent::Idle => "idle".into(),
            GateEvent::Message(_, other) => format!("{other:?}"),
        }
    }

    async fn run_gate(exactly_once: bool) -> Vec<String> {
        let (tx0, rx0) = mpsc::channel(16);
        let (tx1, rx1) = mpsc::channel(16);
        let mut gate = InputGate::with_alignment(vec![(0, rx0), (0, rx1)], exactly_once);
        let barrier = Barrier {
            id: 7,
            timestamp: 0,
            savepoint: false,
        };
        // Channel 0 races ahead past the barrier; channel 1 is behind.
        tx0.send(data(1)).await.unwrap();
        tx0.send(Message::Barrier(barrier)).await.unwrap();
        tx0.send(data(2)).await.unwrap();
        tx1.send(data(10)).await.unwrap();
        tx1.send(data(11)).await.unwrap();
        tx1.send(Message::Barrier(barrier)).await.unwrap();
        tx0.send(Message::EndOfInput).await.unwrap();
        tx1.send(Message::EndOfInput).await.unwrap();
        let mut out = Vec::new();
        loop {
            let ev = value(gate.next().await);
            let end = ev == "end";
            if !ev.starts_with("watermark") {
                out.push(ev);
            }
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn aligned_barriers_hold_back_channels_that_delivered_them() {
        let out = run_gate(true).await;
        let barrier = out.iter().position(|e| e == "barrier 7").unwrap();
        // Everything before the barrier on both channels comes first, nothing after it.
        let before: Vec<&str> = out[..barrier].iter().map(String::as_str).collect();
        assert_eq!(before.len(), 3, "{out:?}");
        for want in ["data 1", "data 10", "data 11"] {
            assert!(before.contains(&want), "{out:?}");
        }
        assert_eq!(out[barrier + 1..], ["data 2", "end"], "{out:?}");
    }

    #[tokio::test]
    async fn unaligned_barriers_only_count() {
        let out = run_gate(false).await;
        let barrier = out.iter().position(|e| e == "barrier 7").unwrap();
        // At least once: channel 0's post-barrier record may overtake the barrier.
        assert!(out[..barrier].contains(&"data 2".to_string()), "{out:?}");
        assert_eq!(out.len(), 6, "{out:?}");
    }

    #[tokio::test]
    async fn a_vanished_producer_is_not_an_end_of_input() {
        let (tx0, rx0) = mpsc::channel(4);
        let mut gate = InputGate::new(vec![(0, rx0)]);
        drop(tx0);
        assert_eq!(value(gate.next().await), "gone");
    }

    /// An idle channel (a source reader without splits) does not hold the watermark back;
    /// when every channel is idle the gate is idle; a channel that speaks again counts again.
    #[tokio::test]
    async fn idle_channels_leave_the_watermark_minimum() {
        let (tx0, rx0) = mpsc::channel(16);
        let (tx1, rx1) = mpsc::channel(16);
        let mut gate = InputGate::new(vec![(0, rx0), (0, rx1)]);
        let mut next = async |msgs: Vec<(usize, Message)>| {
            for (ch, m) in msgs {
                [&tx0, &tx1][ch].send(m).await.unwrap();
            }
            value(gate.next().await)
        };
        let idle = || Message::Idle;
        let wm = Message::Watermark;
        assert_eq!(next(vec![(0, idle()), (1, wm(10))]).await, "watermark 10");
        assert_eq!(next(vec![(1, idle())]).await, "idle");
        assert_eq!(next(vec![(0, data(1))]).await, "data 1");
        assert_eq!(next(vec![(0, wm(20))]).await, "watermark 20");
        // Channel 1 wakes up behind: the combined watermark does not go back.
        let end = vec![
            (1, wm(15)),
            (0, Message::EndOfInput),
            (1, Message::EndOfInput),
        ];
        assert_eq!(next(end).await, "watermark 9223372036854775807");
    }
}
