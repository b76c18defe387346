use std::collections::BTreeMap;

use super::StateKey;

/// A key registered for a timer, with what locates it in keyed state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    /// Key group of the key.
    pub key_group: u32,
    /// Hash of the key.
    pub hash: u64,
    /// The key bytes.
    pub key: StateKey,
}

/// Event-time timers of keyed operators: "call me back for this key when the watermark
/// passes this time" (window ends, session gaps), fired in time order.
#[derive(Default)]
pub struct EventTimers {
    timers: BTreeMap<i64, Vec<TimerKey>>,
}

impl EventTimers {
    /// Registers a timer at `time` (a window's exclusive end: it fires once the watermark
    /// reaches `time - 1`).
    pub fn register(&mut self, time: i64, key_group: u32, hash: u64, key: &[u8]) {
        self.timers.entry(time).or_default().push(TimerKey {
            key_group,
            hash,
            key: key.into(),
        });
    }

    /// Every registered timer with its time, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &TimerKey)> {
        self.timers
            .iter()
            .flat_map(|(t, keys)| keys.iter().map(move |k| (*t, k)))
    }

    /// Removes and returns the timers due at `watermark`, earliest first, with their times.
    pub fn pop_due(&mut self, watermark: i64) -> Vec<(i64, TimerKey)> {
        let mut due = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let t = *entry.key();
            due.extend(entry.remove().into_iter().map(|k| (t, k)));
        }
        due
    }
}
