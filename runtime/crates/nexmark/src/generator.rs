//! The generator: event numbers to Nexmark persons, auctions and bids, written straight into
//! Arrow buffers.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowNativeType, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::config::{NexmarkConfig, NexmarkError};
use crate::rng::Rng;
use crate::text::{self, Tables};

const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// How far past the newest person/auction a random pick may reach ("not yet generated" ids).
const PERSON_ID_LEAD: i64 = 10;
const AUCTION_ID_LEAD: i64 = 10;
/// Hot sellers, bidders and auctions are the first (bidders: second) of each group of this many.
const HOT_GROUP: i64 = 100;
/// A bid comes from a hot channel with probability 1 − 1/this.
const HOT_CHANNELS_RATIO: u64 = 2;

const PERSON: i32 = 0;
const AUCTION: i32 = 1;
const BID: i32 = 2;

/// Most rows in one batch, and most `extra` bytes, so string offsets stay within 32 bits.
const MAX_BATCH_ROWS: usize = 1 << 22;
const MAX_BATCH_EXTRA_BYTES: usize = 1 << 30;
/// Buffers tracked for reuse per element type (a batch has at most 13 of one type): lent out
/// (held by consumers) and free (ready), and the largest one kept.
const MAX_LENT: usize = 256;
const MAX_FREE: usize = 32;
const MAX_RECYCLED_BYTES: usize = 64 << 20;

/// The Arrow schema of every batch: Flink's nexmark table without its computed `dateTime`.
/// `event_type` is 0 (person), 1 (auction) or 2 (bid); only the matching struct column is
/// non-null in a row, and its children are null wherever it is. All fields are nullable, as in
/// Flink's DDL.
pub fn schema() -> SchemaRef {
    schema_parts().0.clone()
}

fn schema_parts() -> &'static (SchemaRef, [Fields; 3]) {
    static SCHEMA: OnceLock<(SchemaRef, [Fields; 3])> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let f = |name: &str, t: DataType| Field::new(name, t, true);
        let ts = || DataType::Timestamp(TimeUnit::Millisecond, None);
        let person = Fields::from(vec![
            f("id", DataType::Int64),
            f("name", DataType::Utf8),
            f("emailAddress", DataType::Utf8),
            f("creditCard", DataType::Utf8),
            f("city", DataType::Utf8),
            f("state", DataType::Utf8),
            f("dateTime", ts()),
            f("extra", DataType::Utf8),
        ]);
        let auction = Fields::from(vec![
            f("id", DataType::Int64),
            f("itemName", DataType::Utf8),
            f("description", DataType::Utf8),
            f("initialBid", DataType::Int64),
            f("reserve", DataType::Int64),
            f("dateTime", ts()),
            f("expires", ts()),
            f("seller", DataType::Int64),
            f("category", DataType::Int64),
            f("extra", DataType::Utf8),
        ]);
        let bid = Fields::from(vec![
            f("auction", DataType::Int64),
            f("bidder", DataType::Int64),
            f("price", DataType::Int64),
            f("channel", DataType::Utf8),
            f("url", DataType::Utf8),
            f("dateTime", ts()),
            f("extra", DataType::Utf8),
        ]);
        let schema = Schema::new(vec![
            f("event_type", DataType::Int32),
            f("person", DataType::Struct(person.clone())),
            f("auction", DataType::Struct(auction.clone())),
            f("bid", DataType::Struct(bid.clone())),
        ]);
        (Arc::new(schema), [person, auction, bid])
    })
}

/// The configuration reduced to what generating an event needs.
#[derive(Debug, Clone)]
struct Shape {
    person: u64,
    auction: u64,
    total: u64,
    delay_us: f64,
    base_time: i64,
    avg_person: u32,
    avg_auction: u32,
    avg_bid: u32,
    hot_auction: u64,
    hot_sellers: u64,
    hot_bidders: u64,
    active_people: i64,
    in_flight_auctions: i64,
}

impl Shape {
    fn new(c: &NexmarkConfig) -> Self {
        Self {
            person: c.person_proportion.into(),
            auction: c.auction_proportion.into(),
            total: u64::from(c.person_proportion)
                + u64::from(c.auction_proportion)
                + u64::from(c.bid_proportion),
            delay_us: 1_000_000.0 / c.first_event_rate as f64,
            base_time: c.base_time_millis,
            avg_person: c.avg_person_bytes,
            avg_auction: c.avg_auction_bytes,
            avg_bid: c.avg_bid_bytes,
            hot_auction: c.hot_auction_ratio.into(),
            hot_sellers: c.hot_sellers_ratio.into(),
            hot_bidders: c.hot_bidders_ratio.into(),
            active_people: c.num_active_people.into(),
            in_flight_auctions: c.num_in_flight_auctions.into(),
        }
    }

    /// Event time of event `e`, computed as Nexmark does (so it never decreases with `e`).
    #[inline]
    fn timestamp(&self, e: u64) -> i64 {
        self.base_time + ((e as f64 * self.delay_us) as i64) / 1000
    }

    #[inline]
    fn kind(&self, e: u64) -> i32 {
        let rem = e % self.total;
        if rem < self.person {
            PERSON
        } else if rem < self.person + self.auction {
            AUCTION
        } else {
            BID
        }
    }

    /// The 0-based id of the newest person at event `e` (the new one if `e` is a person).
    #[inline]
    fn last_person(&self, e: u64) -> i64 {
        let (epoch, rem) = ((e / self.total) as i64, e % self.total);
        let p = self.person as i64;
        epoch * p + if rem < self.person { rem as i64 } else { p - 1 }
    }

    /// The 0-based id of the newest auction at event `e` (the new one if `e` is an auction);
    /// −1 before the first auction.
    #[inline]
    fn last_auction(&self, e: u64) -> i64 {
        let (epoch, rem) = ((e / self.total) as i64, e % self.total);
        let a = self.auction as i64;
        if rem < self.person {
            epoch * a - 1
        } else if rem >= self.person + self.auction {
            epoch * a + a - 1
        } else {
            epoch * a + (rem - self.person) as i64
        }
    }

    /// A 0-based person among the active ones, or up to `PERSON_ID_LEAD` ahead of the newest.
    #[inline]
    fn random_person(&self, e: u64, rng: &mut Rng) -> i64 {
        let people = (self.last_person(e) + 1).max(0);
        let active = people.min(self.active_people);
        people - active + rng.below((active + PERSON_ID_LEAD) as u64) as i64
    }

    /// A 0-based auction among those in flight, or up to `AUCTION_ID_LEAD` ahead of the newest.
    #[inline]
    fn random_auction(&self, e: u64, rng: &mut Rng) -> i64 {
        let last = self.last_auction(e);
        let min = (last - self.in_flight_auctions).max(0);
        min + rng.below((last - min + 1 + AUCTION_ID_LEAD).max(1) as u64) as i64
    }

    /// Nexmark's price: round(100 × 10^(6u)) with u uniform in [0, 1), so log-uniform from 100
    /// to 100,000,000 (cents). 10^(6u) is a power of ten times a table entry times a short
    /// series, as `exp` alone took a seventh of the generator's time.
    #[inline]
    fn price(rng: &mut Rng, tables: &Tables) -> i64 {
        const STEPS: f64 = text::PRICE_STEPS as f64;
        const POW10: [f64; 6] = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7];
        let t = rng.unit_f64() * 6.0 * STEPS;
        let k = t as usize;
        let y = (t - k as f64) * (std::f64::consts::LN_10 / STEPS);
        let tail = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0)));
        let value = POW10[k / text::PRICE_STEPS] * tables.price_steps[k % text::PRICE_STEPS] * tail;
        // Adding 0.5 and truncating rounds like Java's Math.round for these positive values.
        (value + 0.5) as i64
    }
}

/// Generates one split's share of the Nexmark events as Arrow batches.
///
/// Split `k` of `n` generates the event numbers `e ≡ k (mod n)` in increasing order, so its
/// timestamps never decrease and every split's event time advances at the same pace. A batch's
/// memory is reused for a later batch once every reference to it is gone, which saves the
/// allocator's page faults (most of the cost otherwise).
#[derive(Debug)]
pub struct NexmarkGenerator {
    shape: Shape,
    num_splits: u64,
    /// The next event number to generate, `≡ split (mod num_splits)`.
    next: u64,
    /// One past the last event number of the job (`u64::MAX` when unbounded).
    end: u64,
    /// What the job emitted before this split started ([`NexmarkGenerator::restore`]).
    emitted: Emitted,
    last_timestamp: Option<i64>,
    recycler: Recycler,
}

impl NexmarkGenerator {
    /// Split `split_index` of `num_splits` of the events `config` describes; fails on an invalid
    /// config or split.
    pub fn new(
        config: NexmarkConfig,
        split_index: usize,
        num_splits: usize,
    ) -> Result<Self, NexmarkError> {
        Self::restore(config, split_index, num_splits, &Emitted::default())
    }

    /// Resumes from a checkpoint, with the same or a different number of splits: `emitted` says
    /// what the checkpointed job generated ([`Emitted::after`]). Together the new splits
    /// generate exactly the events not yet generated.
    pub fn restore(
        config: NexmarkConfig,
        split_index: usize,
        num_splits: usize,
        emitted: &Emitted,
    ) -> Result<Self, NexmarkError> {
        config.validate()?;
        if split_index >= num_splits {
            return Err(NexmarkError::InvalidSplit {
                split_index,
                num_splits,
            });
        }
        let n = num_splits as u64;
        let k = split_index as u64;
        let start = emitted.below;
        let first = start.saturating_add((k + n - start % n) % n);
        let mut generator = Self {
            shape: Shape::new(&config),
            num_splits: n,
            next: first,
            end: config.total_events().unwrap_or(u64::MAX),
            emitted: emitted.clone(),
            last_timestamp: None,
            recycler: Recycler::default(),
        };
        generator.skip_emitted();
        Ok(generator)
    }

    /// Up to `max_rows` further events of this split (at least 1, at most about 4 million), or
    /// `None` once its share of the events is exhausted.
    pub fn next_batch(&mut self, max_rows: usize) -> Option<RecordBatch> {
        if self.next >= self.end {
            return None;
        }
        let max_rows = max_rows.clamp(1, MAX_BATCH_ROWS);
        let left = (self.end - self.next).div_ceil(self.num_splits);
        let capacity = (max_rows as u64).min(left) as usize;
        let tables = text::tables();
        self.recycler.reclaim();
        let mut batch = BatchBuilder::new(&mut self.recycler, &self.shape, capacity);
        while batch.rows < max_rows
            && self.next < self.end
            && batch.extra_bytes < MAX_BATCH_EXTRA_BYTES
        {
            let ts = self.shape.timestamp(self.next);
            batch.push(&self.shape, tables, self.next, ts);
            self.last_timestamp = Some(ts);
            self.next = self.next.saturating_add(self.num_splits);
            self.skip_emitted();
        }
        Some(batch.finish(&mut self.recycler))
    }

    /// About how many events this split has still to generate (events an earlier layout
    /// generated are counted too); `None` when the stream is unbounded.
    pub fn remaining(&self) -> Option<u64> {
        (self.end != u64::MAX).then(|| self.end.saturating_sub(self.next).div_ceil(self.num_splits))
    }

    /// The global number of the next event this split would generate; the split's checkpoint
    /// state (see [`NexmarkGenerator::restore`]).
    pub fn next_event_number(&self) -> u64 {
        self.next
    }

    /// Event time of the next event of this split, `None` when exhausted. Every later event of the
    /// split is at least this, so `next_event_timestamp() − 1` is a safe watermark.
    pub fn next_event_timestamp(&self) -> Option<i64> {
        (self.next < self.end).then(|| self.shape.timestamp(self.next))
    }

    /// Event time of the last event generated (the largest so far, as timestamps never decrease
    /// within a split), `None` before the first.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.last_timestamp
    }

    /// What the job had generated when this split started: with
    /// [`NexmarkGenerator::next_event_number`], this split's checkpoint state.
    pub fn emitted_before(&self) -> &Emitted {
        &self.emitted
    }

    fn skip_emitted(&mut self) {
        let bound = self.emitted.bound();
        while self.next < bound && self.next < self.end && self.emitted.contains(self.next) {
            self.next = self.next.saturating_add(self.num_splits);
        }
    }
}

/// The event numbers a job has generated, across restores at other split counts: every event
/// below `below`, and per earlier layout of splits (the next event number of each of its
/// splits, split `j` holding the events `≡ j` modulo their count) the events each split had
/// reached. Layouts every split has moved past are dropped, so this stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emitted {
    below: u64,
    layouts: Vec<Vec<u64>>,
}

impl Emitted {
    /// What a job whose splits were restored with `before` and have since reached `positions`
    /// (their [`NexmarkGenerator::next_event_number`], by split index) has generated.
    pub fn after(before: &Emitted, positions: &[u64]) -> Emitted {
        // Every split generated, or skipped as generated, all its events below its position,
        // so everything below the smallest position is done.
        let below = positions
            .iter()
            .copied()
            .min()
            .map_or(before.below, |m| m.max(before.below));
        let mut layouts: Vec<Vec<u64>> = before.layouts.clone();
        if !positions.is_empty() {
            layouts.push(positions.to_vec());
        }
        layouts.retain(|l| l.iter().any(|&p| p > below));
        Emitted { below, layouts }
    }

    /// Whether event `e` was generated.
    pub fn contains(&self, e: u64) -> bool {
        e < self.below
            || self
                .layouts
                .iter()
                .any(|l| e < l[(e % l.len() as u64) as usize])
    }

    /// No event at or above this was generated.
    fn bound(&self) -> u64 {
        self.layouts
            .iter()
            .flatten()
            .copied()
            .fold(self.below, u64::max)
    }

    /// As numbers, for checkpoints: `below`, the number of layouts, then each layout's length
    /// and positions.
    pub fn to_numbers(&self) -> Vec<u64> {
        let mut out = vec![self.below, self.layouts.len() as u64];
        for l in &self.layouts {
            out.push(l.len() as u64);
            out.extend(l);
        }
        out
    }

    /// Reads what [`Emitted::to_numbers`] wrote; `None` when the numbers do not fit.
    pub fn from_numbers(numbers: &[u64]) -> Option<Emitted> {
        let (&below, rest) = numbers.split_first()?;
        let (&count, mut rest) = rest.split_first()?;
        let mut layouts = Vec::new();
        for _ in 0..count {
            let (&len, tail) = rest.split_first()?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l > 0 && *l <= tail.len())?;
            layouts.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        rest.is_empty().then_some(Emitted { below, layouts })
    }
}

/// A string column being built: offsets and bytes. Null rows are empty strings (masked by the
/// struct's validity).
struct StrCol {
    offsets: Vec<i32>,
    values: Vec<u8>,
}

impl StrCol {
    fn new(r: &mut Recycler, rows: usize, bytes: usize) -> Self {
        let mut offsets = r.i32s.take(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            values: r.bytes.take(bytes),
        }
    }

    /// Ends the string whose bytes were appended to `values`; returns its length.
    #[inline]
    fn commit(&mut self) -> usize {
        let start = *self.offsets.last().expect("offsets start with 0") as usize;
        self.offsets.push(self.values.len() as i32);
        self.values.len() - start
    }

    #[inline]
    fn push(&mut self, s: &[u8]) -> usize {
        self.values.extend_from_slice(s);
        self.commit()
    }

    /// Adds empty strings up to `rows` rows.
    #[inline]
    fn pad_to(&mut self, rows: usize) {
        let last = *self.offsets.last().expect("offsets start with 0");
        self.offsets.resize(rows + 1, last);
    }

    fn finish(self, r: &mut Recycler, nulls: &NullBuffer) -> ArrayRef {
        debug_assert!(self.offsets.windows(2).all(|w| w[0] <= w[1]));
        debug_assert!(self.values.is_ascii());
        debug_assert_eq!(*self.offsets.last().unwrap() as usize, self.values.len());
        let offsets = r.i32s.give(self.offsets);
        let values = r.bytes.give(self.values).into_inner();
        // SAFETY: the offsets start at 0, never decrease and end at the length of `values` (they
        // are only ever pushed as `values.len()` or repeated), and every byte written is ASCII,
        // so the array is valid UTF-8 at every offset. Skipping the checks saves a sixth of the
        // generator's time.
        let array = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(offsets),
                values,
                Some(nulls.clone()),
            )
        };
        Arc::new(array)
    }
}

fn int64(r: &mut Recycler, values: Vec<i64>, nulls: &NullBuffer) -> ArrayRef {
    Arc::new(Int64Array::new(r.i64s.give(values), Some(nulls.clone())))
}

fn timestamps(r: &mut Recycler, values: Vec<i64>, nulls: &NullBuffer) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::new(
        r.i64s.give(values),
        Some(nulls.clone()),
    ))
}

/// Vectors of one element type from earlier batches, for reuse.
struct Pool<T> {
    /// Vectors whose batches were dropped, ready for reuse.
    free: Vec<Vec<T>>,
    /// Buffers handed out in batches, reclaimed once nothing else holds them.
    lent: VecDeque<Buffer>,
}

impl<T: ArrowNativeType> Pool<T> {
    /// An empty vector of at least `capacity`: the best-fitting free one, else a new one.
    fn take(&mut self, capacity: usize) -> Vec<T> {
        let fit = (0..self.free.len())
            .filter(|&i| self.free[i].capacity() >= capacity)
            .min_by_key(|&i| self.free[i].capacity())
            .or_else(|| (0..self.free.len()).max_by_key(|&i| self.free[i].capacity()));
        let mut v = fit.map(|i| self.free.swap_remove(i)).unwrap_or_default();
        v.clear();
        v.reserve(capacity);
        v
    }

    /// Turns a filled vector into an Arrow buffer, remembering it for [`Pool::reclaim`].
    fn give(&mut self, v: Vec<T>) -> ScalarBuffer<T> {
        let len = v.len();
        let buffer = Buffer::from_vec(v);
        if buffer.capacity() <= MAX_RECYCLED_BYTES {
            self.lent.push_back(buffer.clone());
        }
        ScalarBuffer::new(buffer, 0, len)
    }

    /// Moves the lent buffers nothing else holds any more to `free`; forgets the oldest of those
    /// still held when too many are.
    fn reclaim(&mut self) {
        for _ in 0..self.lent.len() {
            let buffer = self.lent.pop_front().expect("counted");
            match buffer.into_vec::<T>() {
                Ok(v) => self.free.push(v),
                Err(buffer) => self.lent.push_back(buffer),
            }
        }
        self.lent.drain(..self.lent.len().saturating_sub(MAX_LENT));
        self.free.truncate(MAX_FREE);
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            free: Vec::new(),
            lent: VecDeque::new(),
        }
    }
}

/// Reuses the memory of batches the consumer has dropped. Allocating every batch afresh costs
/// more than generating its events: the allocator hands big blocks back to the OS, and each new
/// page faults on first write.
#[derive(Default)]
struct Recycler {
    i64s: Pool<i64>,
    i32s: Pool<i32>,
    bytes: Pool<u8>,
}

impl Recycler {
    fn reclaim(&mut self) {
        self.i64s.reclaim();
        self.i32s.reclaim();
        self.bytes.reclaim();
    }
}

impl std::fmt::Debug for Recycler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let free = self.i64s.free.len() + self.i32s.free.len() + self.bytes.free.len();
        let lent = self.i64s.lent.len() + self.i32s.lent.len() + self.bytes.lent.len();
        write!(f, "Recycler {{ free: {free}, lent: {lent} }}")
    }
}

struct PersonCols {
    id: Vec<i64>,
    name: StrCol,
    email: StrCol,
    credit_card: StrCol,
    city: StrCol,
    state: StrCol,
    date_time: Vec<i64>,
    extra: StrCol,
}

impl PersonCols {
    fn new(r: &mut Recycler, rows: usize, persons: usize, avg: usize) -> Self {
        Self {
            id: r.i64s.take(rows),
            name: StrCol::new(r, rows, persons * 14),
            email: StrCol::new(r, rows, persons * 16),
            credit_card: StrCol::new(r, rows, persons * 19),
            city: StrCol::new(r, rows, persons * 13),
            state: StrCol::new(r, rows, persons * 2),
            date_time: r.i64s.take(rows),
            extra: StrCol::new(r, rows, persons * avg),
        }
    }

    fn pad_to(&mut self, rows: usize) {
        if self.id.len() == rows {
            return;
        }
        self.id.resize(rows, 0);
        self.name.pad_to(rows);
        self.email.pad_to(rows);
        self.credit_card.pad_to(rows);
        self.city.pad_to(rows);
        self.state.pad_to(rows);
        self.date_time.resize(rows, 0);
        self.extra.pad_to(rows);
    }

    fn finish(self, r: &mut Recycler, nulls: &NullBuffer) -> Vec<ArrayRef> {
        vec![
            int64(r, self.id, nulls),
            self.name.finish(r, nulls),
            self.email.finish(r, nulls),
            self.credit_card.finish(r, nulls),
            self.city.finish(r, nulls),
            self.state.finish(r, nulls),
            timestamps(r, self.date_time, nulls),
            self.extra.finish(r, nulls),
        ]
    }
}

struct AuctionCols {
    id: Vec<i64>,
    item_name: StrCol,
    description: StrCol,
    initial_bid: Vec<i64>,
    reserve: Vec<i64>,
    date_time: Vec<i64>,
    expires: Vec<i64>,
    seller: Vec<i64>,
    category: Vec<i64>,
    extra: StrCol,
}

impl AuctionCols {
    fn new(r: &mut Recycler, rows: usize, auctions: usize, avg: usize) -> Self {
        Self {
            id: r.i64s.take(rows),
            item_name: StrCol::new(r, rows, auctions * 11),
            description: StrCol::new(r, rows, auctions * 51),
            initial_bid: r.i64s.take(rows),
            reserve: r.i64s.take(rows),
            date_time: r.i64s.take(rows),
            expires: r.i64s.take(rows),
            seller: r.i64s.take(rows),
            category: r.i64s.take(rows),
            extra: StrCol::new(r, rows, auctions * avg),
        }
    }

    fn pad_to(&mut self, rows: usize) {
        if self.id.len() == rows {
            return;
        }
        self.id.resize(rows, 0);
        self.item_name.pad_to(rows);
        self.description.pad_to(rows);
        self.initial_bid.resize(rows, 0);
        self.reserve.resize(rows, 0);
        self.date_time.resize(rows, 0);
        self.expires.resize(rows, 0);
        self.seller.resize(rows, 0);
        self.category.resize(rows, 0);
        self.extra.pad_to(rows);
    }

    fn finish(self, r: &mut Recycler, nulls: &NullBuffer) -> Vec<ArrayRef> {
        vec![
            int64(r, self.id, nulls),
            self.item_name.finish(r, nulls),
            self.description.finish(r, nulls),
            int64(r, self.initial_bid, nulls),
            int64(r, self.reserve, nulls),
            timestamps(r, self.date_time, nulls),
            timestamps(r, self.expires, nulls),
            int64(r, self.seller, nulls),
            int64(r, self.category, nulls),
            self.extra.finish(r, nulls),
        ]
    }
}

struct BidCols {
    auction: Vec<i64>,
    bidder: Vec<i64>,
    price: Vec<i64>,
    channel: StrCol,
    url: StrCol,
    date_time: Vec<i64>,
    extra: StrCol,
}

impl BidCols {
    fn new(r: &mut Recycler, rows: usize, bids: usize, avg: usize) -> Self {
        Self {
            auction: r.i64s.take(rows),
            bidder: r.i64s.take(rows),
            price: r.i64s.take(rows),
            channel: StrCol::new(r, rows, bids * 10),
            url: StrCol::new(r, rows, bids * 72),
            date_time: r.i64s.take(rows),
            extra: StrCol::new(r, rows, bids * avg),
        }
    }

    fn pad_to(&mut self, rows: usize) {
        if self.auction.len() == rows {
            return;
        }
        self.auction.resize(rows, 0);
        self.bidder.resize(rows, 0);
        self.price.resize(rows, 0);
        self.channel.pad_to(rows);
        self.url.pad_to(rows);
        self.date_time.resize(rows, 0);
        self.extra.pad_to(rows);
    }

    fn finish(self, r: &mut Recycler, nulls: &NullBuffer) -> Vec<ArrayRef> {
        vec![
            int64(r, self.auction, nulls),
            int64(r, self.bidder, nulls),
            int64(r, self.price, nulls),
            self.channel.finish(r, nulls),
            self.url.finish(r, nulls),
            timestamps(r, self.date_time, nulls),
            self.extra.finish(r, nulls),
        ]
    }
}

/// One batch being built. A struct's columns are padded with null slots lazily, when a row of
/// its kind arrives and at the end, rather than on every row of another kind.
struct BatchBuilder {
    rows: usize,
    event_type: Vec<i32>,
    person: PersonCols,
    auction: AuctionCols,
    bid: BidCols,
    extra_bytes: usize,
}

impl BatchBuilder {
    fn new(recycler: &mut Recycler, shape: &Shape, rows: usize) -> Self {
        let r = recycler;
        let share = |p: u64| ((rows as u64 * p).div_ceil(shape.total)) as usize + 1;
        let bids = shape.total - shape.person - shape.auction;
        Self {
            rows: 0,
            event_type: r.i32s.take(rows),
            person: PersonCols::new(r, rows, share(shape.person), shape.avg_person as usize),
            auction: AuctionCols::new(r, rows, share(shape.auction), shape.avg_auction as usize),
            bid: BidCols::new(r, rows, share(bids), shape.avg_bid as usize),
            extra_bytes: 0,
        }
    }

    #[inline]
    fn push(&mut self, s: &Shape, tables: &Tables, e: u64, ts: i64) {
        let kind = s.kind(e);
        let mut rng = Rng::for_event(e);
        match kind {
            PERSON => self.push_person(s, e, ts, &mut rng),
            AUCTION => self.push_auction(s, tables, e, ts, &mut rng),
            _ => self.push_bid(s, tables, e, ts, &mut rng),
        }
        self.event_type.push(kind);
        self.rows += 1;
    }

    fn push_person(&mut self, s: &Shape, e: u64, ts: i64, rng: &mut Rng) {
        let p = &mut self.person;
        p.pad_to(self.rows);
        p.id.push(s.last_person(e) + FIRST_PERSON_ID);
        let mut size = 8;

        let v = &mut p.name.values;
        v.extend_from_slice(pick(text::FIRST_NAMES, rng));
        v.push(b' ');
        v.extend_from_slice(pick(text::LAST_NAMES, rng));
        size += p.name.commit();

        let v = &mut p.email.values;
        text::push_word(v, rng, 7, b' ');
        v.push(b'@');
        text::push_word(v, rng, 5, b' ');
        v.extend_from_slice(b".com");
        size += p.email.commit();

        let v = &mut p.credit_card.values;
        for group in 0..4 {
            if group > 0 {
                v.push(b' ');
            }
            let n = rng.below(10_000) as u16;
            v.extend_from_slice(&[
                b'0' + (n / 1000) as u8,
                b'0' + (n / 100 % 10) as u8,
                b'0' + (n / 10 % 10) as u8,
                b'0' + (n % 10) as u8,
            ]);
        }
        size += p.credit_card.commit();

        size += p.city.push(pick(text::US_CITIES, rng));
        size += p.state.push(pick(text::US_STATES, rng));
        p.date_time.push(ts);

        text::push_extra(&mut p.extra.values, rng, size, s.avg_person);
        self.extra_bytes += p.extra.commit();
    }

    fn push_auction(&mut self, s: &Shape, tables: &Tables, e: u64, ts: i64, rng: &mut Rng) {
        let a = &mut self.auction;
        a.pad_to(self.rows);
        a.id.push(s.last_auction(e) + FIRST_AUCTION_ID);
        let seller = if rng.below(s.hot_sellers) > 0 {
            (s.last_person(e) / HOT_GROUP) * HOT_GROUP
        } else {
            s.random_person(e, rng)
        };
        a.seller.push(seller + FIRST_PERSON_ID);
        a.category
            .push(FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES) as i64);
        let initial_bid = Shape::price(rng, tables);
        a.initial_bid.push(initial_bid);
        a.reserve.push(initial_bid + Shape::price(rng, tables));
        a.date_time.push(ts);
        // Auctions last on average as long as it takes to generate `num_in_flight_auctions` more.
        let ahead = (s.in_flight_auctions as u64 * s.total) / s.auction;
        let horizon = s.timestamp(e.saturating_add(ahead)) - ts;
        a.expires
            .push(ts + 1 + rng.below((horizon * 2).max(1) as u64) as i64);

        text::push_word(&mut a.item_name.values, rng, 20, b' ');
        let mut size = 8 + a.item_name.commit();
        text::push_word(&mut a.description.values, rng, 100, b' ');
        size += a.description.commit() + 5 * 8;
        text::push_extra(&mut a.extra.values, rng, size, s.avg_auction);
        self.extra_bytes += a.extra.commit();
    }

    fn push_bid(&mut self, s: &Shape, tables: &Tables, e: u64, ts: i64, rng: &mut Rng) {
        let b = &mut self.bid;
        b.pad_to(self.rows);
        let auction = if rng.below(s.hot_auction) > 0 {
            (s.last_auction(e) / HOT_GROUP) * HOT_GROUP
        } else {
            s.random_auction(e, rng)
        };
        b.auction.push(auction + FIRST_AUCTION_ID);
        // Hot bidders are the second person of a group, so they differ from hot sellers.
        let bidder = if rng.below(s.hot_bidders) > 0 {
            (s.last_person(e) / HOT_GROUP) * HOT_GROUP + 1
        } else {
            s.random_person(e, rng)
        };
        b.bidder.push(bidder + FIRST_PERSON_ID);
        b.price.push(Shape::price(rng, tables));
        if rng.below(HOT_CHANNELS_RATIO) > 0 {
            let i = rng.below(text::HOT_CHANNELS.len() as u64) as usize;
            b.channel.push(text::HOT_CHANNELS[i]);
            b.url.push(&tables.hot_urls[i]);
        } else {
            let i = rng.below(text::NUM_CHANNELS) as usize;
            b.channel.push(tables.channels.get(i));
            b.url.push(tables.urls.get(i));
        }
        b.date_time.push(ts);
        text::push_extra(&mut b.extra.values, rng, 4 * 8, s.avg_bid);
        self.extra_bytes += b.extra.commit();
    }

    fn finish(mut self, r: &mut Recycler) -> RecordBatch {
        let rows = self.rows;
        self.person.pad_to(rows);
        self.auction.pad_to(rows);
        self.bid.pad_to(rows);
        let (schema, [person_fields, auction_fields, bid_fields]) = schema_parts();
        let et = &self.event_type;
        let nulls =
            |kind: i32| NullBuffer::new(BooleanBuffer::collect_bool(rows, |i| et[i] == kind));
        let (person_nulls, auction_nulls, bid_nulls) = (nulls(PERSON), nulls(AUCTION), nulls(BID));
        let person = StructArray::new(
            person_fields.clone(),
            self.person.finish(r, &person_nulls),
            Some(person_nulls),
        );
        let auction = StructArray::new(
            auction_fields.clone(),
            self.auction.finish(r, &auction_nulls),
            Some(auction_nulls),
        );
        let bid = StructArray::new(
            bid_fields.clone(),
            self.bid.finish(r, &bid_nulls),
            Some(bid_nulls),
        );
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::new(r.i32s.give(self.event_type), None)),
                Arc::new(person),
                Arc::new(auction),
                Arc::new(bid),
            ],
        )
        .expect("columns match the nexmark schema")
    }
}

#[inline]
fn pick(list: &[&'static [u8]], rng: &mut Rng) -> &'static [u8] {
    list[rng.below(list.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_matches_nexmark_formula() {
        let tables = text::tables();
        for e in 0..200_000 {
            let price = Shape::price(&mut Rng::for_event(e), tables);
            let u = Rng::for_event(e).unit_f64();
            let exact = (10f64.powf(u * 6.0) * 100.0).round() as i64;
            assert!((price - exact).abs() <= 1, "{price} vs {exact}");
            assert!((100..=100_000_000).contains(&price));
        }
    }
}

#[cfg(test)]
mod recycle_tests {
    use super::*;

    #[test]
    fn dropped_batches_are_reused() {
        let config = NexmarkConfig {
            events_num: 100_000,
            ..NexmarkConfig::default()
        };
        let mut g = NexmarkGenerator::new(config, 0, 1).unwrap();
        let bid_extra = |batch: &RecordBatch| {
            let bid = batch.column(3).as_any().downcast_ref::<StructArray>();
            bid.unwrap().column(6).to_data().buffers()[1].as_ptr()
        };
        let extra = bid_extra(&g.next_batch(4096).unwrap());
        // The first batch was dropped: its memory goes to the second.
        let second = g.next_batch(4096).unwrap();
        assert_eq!(bid_extra(&second), extra);
        assert_eq!(g.recycler.bytes.lent.len(), 12);
        // The second is held: its memory is not reused.
        let third = g.next_batch(4096).unwrap();
        assert_ne!(bid_extra(&third), extra);
        assert_eq!(g.recycler.bytes.lent.len(), 24);
    }
}
