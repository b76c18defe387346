use std::collections::HashMap;

use arrow::array::{Array, AsArray, StructArray, UInt32Array};
use arrow::compute::{concat_batches, interleave_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use runnel_nexmark::{Emitted, NexmarkConfig, NexmarkError, NexmarkGenerator, schema};

fn config(events: u64) -> NexmarkConfig {
    NexmarkConfig {
        events_num: events,
        ..NexmarkConfig::default()
    }
}

fn batches(
    config: &NexmarkConfig,
    split: usize,
    splits: usize,
    max_rows: usize,
) -> Vec<RecordBatch> {
    let mut g = NexmarkGenerator::new(config.clone(), split, splits).unwrap();
    let mut out = Vec::new();
    while let Some(b) = g.next_batch(max_rows) {
        assert!(b.num_rows() <= max_rows);
        out.push(b);
    }
    assert!(g.next_batch(max_rows).is_none());
    out
}

fn all(config: &NexmarkConfig, split: usize, splits: usize, max_rows: usize) -> RecordBatch {
    concat_batches(&schema(), &batches(config, split, splits, max_rows)).unwrap()
}

fn event_types(b: &RecordBatch) -> Vec<i32> {
    b.column(0).as_primitive::<Int32Type>().values().to_vec()
}

fn strukt<'a>(b: &'a RecordBatch, name: &str) -> &'a StructArray {
    b.column_by_name(name).unwrap().as_struct()
}

fn ints(s: &StructArray, field: &str) -> Vec<i64> {
    s.column_by_name(field)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn times(s: &StructArray, field: &str) -> Vec<i64> {
    let c = s.column_by_name(field).unwrap();
    c.as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec()
}

/// The event time of every row, taken from whichever struct the row holds.
fn row_times(b: &RecordBatch) -> Vec<i64> {
    let ts = [
        times(strukt(b, "person"), "dateTime"),
        times(strukt(b, "auction"), "dateTime"),
        times(strukt(b, "bid"), "dateTime"),
    ];
    event_types(b)
        .iter()
        .enumerate()
        .map(|(i, &t)| ts[t as usize][i])
        .collect()
}

#[test]
fn schema_is_flinks_nexmark_table() {
    let s = schema();
    let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["event_type", "person", "auction", "bid"]);
    assert_eq!(s.field(0).data_type(), &DataType::Int32);
    let child_names = |i: usize| match s.field(i).data_type() {
        DataType::Struct(f) => f.iter().map(|f| f.name().clone()).collect::<Vec<_>>(),
        t => panic!("{t}"),
    };
    assert_eq!(
        child_names(1),
        [
            "id",
            "name",
            "emailAddress",
            "creditCard",
            "city",
            "state",
            "dateTime",
            "extra"
        ]
    );
    assert_eq!(
        child_names(2),
        [
            "id",
            "itemName",
            "description",
            "initialBid",
            "reserve",
            "dateTime",
            "expires",
            "seller",
            "category",
            "extra"
        ]
    );
    assert_eq!(
        child_names(3),
        [
            "auction", "bidder", "price", "channel", "url", "dateTime", "extra"
        ]
    );
    let DataType::Struct(bid) = s.field(3).data_type() else {
        unreachable!()
    };
    assert_eq!(
        bid[5].data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
}

#[test]
fn proportions_are_exact_per_period() {
    let k = 200;
    let b = all(&config(50 * k), 0, 1, 1024);
    let types = event_types(&b);
    assert_eq!(types.len(), 50 * k as usize);
    let count = |t: i32| types.iter().filter(|&&x| x == t).count() as u64;
    assert_eq!((count(0), count(1), count(2)), (k, 3 * k, 46 * k));
    for (e, &t) in types.iter().enumerate() {
        let expected = match e % 50 {
            0 => 0,
            1..=3 => 1,
            _ => 2,
        };
        assert_eq!(t, expected, "event {e}");
    }

    let custom = NexmarkConfig {
        person_proportion: 2,
        auction_proportion: 5,
        bid_proportion: 13,
        ..config(20 * 37)
    };
    let types = event_types(&all(&custom, 0, 1, 100));
    let count = |t: i32| types.iter().filter(|&&x| x == t).count();
    assert_eq!((count(0), count(1), count(2)), (2 * 37, 5 * 37, 13 * 37));
}

#[test]
fn only_the_matching_struct_is_non_null() {
    let b = all(&config(5_000), 0, 1, 999);
    let types = event_types(&b);
    for (i, name) in ["person", "auction", "bid"].iter().enumerate() {
        let s = strukt(&b, name);
        for (row, &kind) in types.iter().enumerate() {
            let valid = kind == i as i32;
            assert_eq!(s.is_valid(row), valid, "{name} row {row}");
            for child in s.columns() {
                assert_eq!(child.is_valid(row), valid, "{name} child, row {row}");
            }
        }
    }
    assert_eq!(b.column(0).null_count(), 0);
}

#[test]
fn same_config_gives_identical_batches() {
    let c = config(20_000);
    assert_eq!(batches(&c, 0, 1, 3000), batches(&c, 0, 1, 3000));
    // Batch boundaries do not change the events.
    assert_eq!(all(&c, 0, 1, 3000), all(&c, 0, 1, 777));
    let other_base = NexmarkConfig {
        base_time_millis: 0,
        ..c.clone()
    };
    assert_ne!(all(&c, 0, 1, 3000), all(&other_base, 0, 1, 3000));
}

#[test]
fn union_of_splits_equals_single_split() {
    let events = 10_007;
    let c = config(events);
    let single = all(&c, 0, 1, 4096);
    for n in [2, 3, 7] {
        let parts: Vec<RecordBatch> = (0..n).map(|k| all(&c, k, n, 500)).collect();
        assert_eq!(
            parts.iter().map(RecordBatch::num_rows).sum::<usize>(),
            events as usize
        );
        // Split k holds events k, k + n, k + 2n, …
        let order: Vec<(usize, usize)> = (0..events as usize).map(|e| (e % n, e / n)).collect();
        let parts: Vec<&RecordBatch> = parts.iter().collect();
        let merged = interleave_record_batch(&parts, &order).unwrap();
        assert_eq!(merged, single, "{n} splits");
    }
}

#[test]
fn restore_resumes_exactly_with_any_split_count() {
    let events = 6_000;
    let c = config(events);
    let single = all(&c, 0, 1, 4096);
    // Three splits, stopped at different points.
    let mut seen = vec![0u32; events as usize];
    let mut state = Vec::new();
    for (k, rows) in [(0, 700), (1, 1200), (2, 5)] {
        let mut g = NexmarkGenerator::new(c.clone(), k, 3).unwrap();
        let b = g.next_batch(rows).unwrap();
        assert_eq!(b.num_rows(), rows);
        for j in 0..rows {
            let e = k + 3 * j;
            seen[e] += 1;
            assert_eq!(b.slice(j, 1), single.slice(e, 1), "event {e}");
        }
        state.push(g.next_event_number());
    }
    // Resumed on two splits: every event exactly once overall, each split in increasing order.
    let before = seen.clone();
    for k in 0..2 {
        let mut expected = (k..events as usize).step_by(2).filter(|&e| before[e] == 0);
        let emitted = Emitted::after(&Emitted::default(), &state);
        let mut g = NexmarkGenerator::restore(c.clone(), k, 2, &emitted).unwrap();
        while let Some(b) = g.next_batch(333) {
            for j in 0..b.num_rows() {
                let e = expected.next().expect("no more events than expected");
                seen[e] += 1;
                assert_eq!(b.slice(j, 1), single.slice(e, 1), "event {e}");
            }
        }
        assert_eq!(expected.next(), None);
    }
    assert!(seen.iter().all(|&n| n == 1));
}

#[test]
fn restores_chain_across_split_counts() {
    // 3 splits, restored on 2 that stop before catching up with the old positions, restored
    // again on 4 that run to the end: every event exactly once, each split in order.
    let events = 5_000u64;
    let c = config(events);
    let mut seen = vec![0u32; events as usize];
    let mut emitted = Emitted::default();
    for (splits, rows) in [
        (3usize, vec![900, 40, 400]),
        (2, vec![10, 700]),
        (4, vec![]),
    ] {
        let mut positions = Vec::new();
        for k in 0..splits {
            // One event per batch, so each event's number is the position before it.
            let mut g = NexmarkGenerator::restore(c.clone(), k, splits, &emitted).unwrap();
            let mut e = Vec::new();
            let limit = rows.get(k).copied().unwrap_or(usize::MAX);
            while e.len() < limit {
                let number = g.next_event_number();
                let Some(b) = g.next_batch(1) else {
                    break;
                };
                assert_eq!(b.num_rows(), 1);
                e.push(number);
            }
            positions.push(g.next_event_number());
            assert!(
                e.windows(2).all(|w| w[0] < w[1]),
                "split {k} of {splits} out of order"
            );
            for x in e {
                seen[x as usize] += 1;
            }
        }
        emitted = Emitted::after(&emitted, &positions);
        assert_eq!(
            Emitted::from_numbers(&emitted.to_numbers()).as_ref(),
            Some(&emitted)
        );
    }
    let wrong: Vec<_> = (0..events)
        .filter(|&e| seen[e as usize] != 1)
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "events generated other than once: {wrong:?}"
    );
}

#[test]
fn timestamps_follow_event_numbers() {
    let c = config(30_000);
    let b = all(&c, 0, 1, 8192);
    let ts = row_times(&b);
    assert_eq!(ts[0], c.base_time_millis);
    for (e, w) in ts.windows(2).enumerate() {
        assert!(w[0] <= w[1], "event {e}");
    }
    // 10,000 events per second by default: ten events per millisecond.
    for (e, &t) in ts.iter().enumerate() {
        assert_eq!(t, c.base_time_millis + e as i64 / 10, "event {e}");
    }
    let auction = strukt(&b, "auction");
    let (start, end) = (times(auction, "dateTime"), times(auction, "expires"));
    for row in (0..b.num_rows()).filter(|&r| auction.is_valid(r)) {
        assert!(end[row] > start[row]);
    }

    let fast = NexmarkConfig {
        first_event_rate: 10_000_000,
        ..config(50_000)
    };
    let ts = row_times(&all(&fast, 0, 1, 8192));
    assert_eq!(*ts.last().unwrap(), fast.base_time_millis + 4);
}

#[test]
fn watermark_helpers_track_the_split() {
    let c = config(1_000);
    let mut g = NexmarkGenerator::new(c.clone(), 1, 4).unwrap();
    assert_eq!(g.last_timestamp(), None);
    assert_eq!(g.next_event_timestamp(), Some(c.base_time_millis));
    assert_eq!(g.next_event_number(), 1);
    let b = g.next_batch(100).unwrap();
    let ts = row_times(&b);
    assert_eq!(g.last_timestamp(), ts.last().copied());
    assert_eq!(g.next_event_number(), 401);
    assert_eq!(g.next_event_timestamp(), Some(c.base_time_millis + 40));
    while g.next_batch(100).is_some() {}
    assert_eq!(g.next_event_timestamp(), None);
}

#[test]
fn ids_reference_generated_persons_and_auctions() {
    let b = all(&config(200_000), 0, 1, 10_000);
    let types = event_types(&b);
    let (person, auction, bid) = (
        strukt(&b, "person"),
        strukt(&b, "auction"),
        strukt(&b, "bid"),
    );
    let person_id = ints(person, "id");
    let (auction_id, seller, category) = (
        ints(auction, "id"),
        ints(auction, "seller"),
        ints(auction, "category"),
    );
    let (bid_auction, bidder, price) = (
        ints(bid, "auction"),
        ints(bid, "bidder"),
        ints(bid, "price"),
    );
    // Nexmark lets a random pick reach up to 10 ids past the newest person or auction, so that
    // some events appear to arrive before what they refer to.
    let lead = 10;
    let (mut max_person, mut max_auction) = (999, 999);
    let mut hot_bids = 0;
    for row in 0..b.num_rows() {
        match types[row] {
            0 => {
                assert_eq!(
                    person_id[row],
                    max_person + 1,
                    "persons are numbered in order"
                );
                max_person = person_id[row];
            }
            1 => {
                assert_eq!(
                    auction_id[row],
                    max_auction + 1,
                    "auctions are numbered in order"
                );
                max_auction = auction_id[row];
                assert!(
                    (1000..=max_person + lead).contains(&seller[row]),
                    "row {row}"
                );
                assert!((10..15).contains(&category[row]));
            }
            _ => {
                let a = bid_auction[row];
                assert!(
                    a >= 1000 && a >= max_auction - 100 && a <= max_auction + lead,
                    "row {row}"
                );
                assert!(
                    (1000..=max_person + lead).contains(&bidder[row]),
                    "row {row}"
                );
                assert!((1..=100_000_000).contains(&price[row]));
                hot_bids += usize::from(a % 100 == 0 && a != max_auction + 1);
            }
        }
    }
    assert_eq!(max_person, 1000 + 200_000 / 50 - 1);
    // Half the bids go to the hot auction (hot-ratio.auctions = 2).
    let bids = types.iter().filter(|&&t| t == 2).count();
    let share = hot_bids as f64 / bids as f64;
    assert!((0.48..0.55).contains(&share), "{share}");
}

#[test]
fn sizes_match_configured_averages() {
    let c = NexmarkConfig {
        avg_bid_bytes: 300,
        ..config(100_000)
    };
    let b = all(&c, 0, 1, 100_000);
    let types = event_types(&b);
    let avg_extra = |name: &str, kind: i32| {
        let s = strukt(&b, name);
        let extra = s.column_by_name("extra").unwrap().as_string::<i32>();
        let rows: Vec<usize> = (0..b.num_rows()).filter(|&r| types[r] == kind).collect();
        rows.iter().map(|&r| extra.value(r).len()).sum::<usize>() as f64 / rows.len() as f64
    };
    // A bid counts 32 bytes of fixed fields; the rest of its average is `extra`.
    let bid = avg_extra("bid", 2);
    assert!((264.0..272.0).contains(&bid), "{bid}");
    let person = avg_extra("person", 0);
    assert!((120.0..150.0).contains(&person), "{person}");
    let auction = avg_extra("auction", 1);
    assert!((380.0..420.0).contains(&auction), "{auction}");

    let p = strukt(&b, "person");
    let row = types.iter().position(|&t| t == 0).unwrap();
    let card = p
        .column_by_name("creditCard")
        .unwrap()
        .as_string::<i32>()
        .value(row);
    assert_eq!(card.len(), 19);
    let email = p
        .column_by_name("emailAddress")
        .unwrap()
        .as_string::<i32>()
        .value(row);
    assert!(email.ends_with(".com") && email.contains('@'), "{email}");
    let state = p
        .column_by_name("state")
        .unwrap()
        .as_string::<i32>()
        .value(row);
    assert!(["AZ", "CA", "ID", "OR", "WA", "WY"].contains(&state));
}

#[test]
fn events_num_is_respected() {
    for n in [1, 2, 5, 13] {
        let rows: usize = (0..n)
            .map(|k| {
                batches(&config(1_234), k, n, 100)
                    .iter()
                    .map(RecordBatch::num_rows)
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(rows, 1_234, "{n} splits");
    }
    // More splits than events: some splits are empty from the start.
    assert!(
        NexmarkGenerator::new(config(3), 5, 8)
            .unwrap()
            .next_batch(10)
            .is_none()
    );
    let capped = NexmarkConfig {
        stop_at: Some(77),
        ..config(1_000)
    };
    assert_eq!(all(&capped, 0, 1, 50).num_rows(), 77);
    // Unbounded keeps going.
    let mut g = NexmarkGenerator::new(config(0), 0, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(g.next_batch(10_000).unwrap().num_rows(), 10_000);
    }
}

#[test]
fn options_are_validated() {
    let opts = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let err = NexmarkConfig::from_options(&opts(&[("events.num", "10"), ("events.nmu", "10")]))
        .unwrap_err();
    assert!(matches!(&err, NexmarkError::UnknownOption { key, .. } if key == "events.nmu"));
    assert!(err.to_string().contains("'events.nmu'"), "{err}");

    let err = NexmarkConfig::from_options(&opts(&[("bid.proportion", "many")])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bid.proportion") && msg.contains("many"),
        "{msg}"
    );

    let c = NexmarkConfig::from_options(&opts(&[
        ("connector", "nexmark"),
        ("events.num", "500"),
        ("first-event.rate", "1000000"),
    ]))
    .unwrap();
    assert_eq!((c.events_num, c.first_event_rate), (500, 1_000_000));

    assert!(matches!(
        NexmarkGenerator::new(config(10), 2, 2),
        Err(NexmarkError::InvalidSplit { .. })
    ));
    let bad = NexmarkConfig {
        first_event_rate: 0,
        ..config(10)
    };
    assert!(NexmarkGenerator::new(bad, 0, 1).is_err());
}

#[test]
fn reused_memory_never_changes_held_batches() {
    let c = config(60_000);
    let expected = all(&c, 0, 1, 1000);
    let mut g = NexmarkGenerator::new(c, 0, 1).unwrap();
    let held = g.next_batch(1000).unwrap();
    // A projection of one child keeps only part of a batch alive.
    let held_child = strukt(&g.next_batch(1000).unwrap(), "bid")
        .column(6)
        .clone();
    // Batches dropped right away: their memory is reused for later ones.
    let mut copies = Vec::new();
    while let Some(b) = g.next_batch(1000) {
        let all_rows = UInt32Array::from_iter_values(0..b.num_rows() as u32);
        copies.push(take_record_batch(&b, &all_rows).unwrap());
    }
    assert_eq!(held, expected.slice(0, 1000));
    assert_eq!(
        &held_child,
        strukt(&expected.slice(1000, 1000), "bid").column(6)
    );
    let mut rows = 2000;
    for copy in &copies {
        assert_eq!(copy, &expected.slice(rows, copy.num_rows()));
        rows += copy.num_rows();
    }
    assert_eq!(rows, 60_000);
}
