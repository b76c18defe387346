use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc;

use crate::dataflow::Message;

struct Channel {
    rx: mpsc::Receiver<Message>,
    input: usize,
    watermark: i64,
    ended: bool,
}

/// What the gate hands the task: a message and the input it arrived on.
pub(crate) enum GateEvent {
    /// Rows (or a barrier) on `input`.
    Message(usize, Message),
    /// The watermark minimum over all channels rose.
    Watermark(i64),
    /// Every channel has ended.
    End,
}

/// The receiving side of a subtask: all channels of all inputs, with watermarks min-combined
/// over channels and end of input counted per channel.
pub(crate) struct InputGate {
    channels: Vec<Channel>,
    next: usize,
    combined: i64,
    open: usize,
}

impl InputGate {
    pub(crate) fn new(receivers: Vec<(usize, mpsc::Receiver<Message>)>) -> Self {
        let open = receivers.len();
        InputGate {
            channels: receivers
                .into_iter()
                .map(|(input, rx)| Channel {
                    rx,
                    input,
                    watermark: i64::MIN,
                    ended: false,
                })
                .collect(),
            next: 0,
            combined: i64::MIN,
            open,
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
                    if ch.ended {
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
                Some(Message::EndOfInput) | None => {
                    let ch = &mut self.channels[idx];
                    if !ch.ended {
                        ch.ended = true;
                        ch.watermark = i64::MAX;
                        self.open -= 1;
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
