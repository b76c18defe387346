use runnel_types::ChangeBatch;

/// A checkpoint barrier: the cut line between checkpoint `id - 1`'s records and checkpoint `id`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Barrier {
    /// Checkpoint id, increasing.
    pub id: u64,
    /// When the coordinator triggered it, in epoch milliseconds.
    pub timestamp: i64,
    /// A savepoint's barrier: state goes in the portable format whatever the backend.
    pub savepoint: bool,
}

/// What travels on a channel: data, or the control messages that order it in time.
#[derive(Clone, Debug)]
pub enum Message {
    /// Rows, with their change kinds.
    Data(ChangeBatch),
    /// No later record on this channel has an event time at or below this (epoch millis).
    Watermark(i64),
    /// A checkpoint barrier; operators snapshot when it has arrived on every input channel.
    Barrier(Barrier),
    /// The producer has nothing to say about event time for now (a source reader without
    /// splits, Flink's IDLE watermark status): leave its channel out of the watermark minimum
    /// until it sends data or a watermark again.
    Idle,
    /// The producer will send nothing more.
    EndOfInput,
}
