//! Generator throughput: `cargo run --release -p runnel-nexmark --example throughput -- [events] [batch rows]`.

use std::time::Instant;

use runnel_nexmark::{NexmarkConfig, NexmarkGenerator};

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map_or(10_000_000, |a| a.parse().expect("events"));
    let rows: usize = args.next().map_or(8192, |a| a.parse().expect("batch rows"));
    let config = NexmarkConfig {
        events_num: events,
        first_event_rate: 10_000_000,
        ..NexmarkConfig::default()
    };
    let mut generator = NexmarkGenerator::new(config, 0, 1).expect("valid config");
    let start = Instant::now();
    let (mut total, mut bytes) = (0usize, 0usize);
    while let Some(batch) = generator.next_batch(rows) {
        total += batch.num_rows();
        bytes += batch.get_array_memory_size();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} events in {secs:.3}s: {:.2} M events/s, {:.0} MB/s of Arrow arrays",
        total as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}
