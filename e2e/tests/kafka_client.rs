//! Runnel's own Kafka client against a real broker (Apache Kafka in KRaft mode): reading by
//! offset and time, consumer-group offsets, and the transaction hand-over the exactly-once sink
//! relies on: a transaction flushed by one producer and committed (or aborted) from another
//! client, as a restored job does.

use bytes::Bytes;
use runnel_e2e::kafka::Kafka;
use runnel_kafka::{
    Acks, Client, ClientConfig, Compression, EARLIEST, Isolation, LATEST, Producer,
    abort_lingering, end_transaction,
};

async fn client(kafka: &Kafka) -> Client {
    Client::connect(ClientConfig::new(&kafka.bootstrap()))
        .await
        .expect("connect")
}

/// The values of a topic up to its current end.
async fn read_all(bootstrap: &str, topic: &str, isolation: Isolation) -> Vec<String> {
    runnel_e2e::kafka::read_to_end(bootstrap, topic, isolation)
        .await
        .expect("read")
        .into_iter()
        .map(|(_, m)| String::from_utf8_lossy(m.value.as_deref().unwrap_or(b"")).into_owned())
        .collect()
}

/// Reads until `want` shows up: transaction markers are written after EndTxn returns.
async fn read_committed(bootstrap: &str, topic: &str, want: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = read_all(bootstrap, topic, Isolation::ReadCommitted).await;
        if got == want || std::time::Instant::now() > deadline {
            assert_eq!(got, want);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn value(s: &str) -> Option<Bytes> {
    Some(Bytes::from(s.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_committed_from_another_client() {
    let kafka = Kafka::start().expect("start Kafka");
    let b = kafka.bootstrap();
    kafka.create_topic("plain", 3).unwrap();
    kafka.create_topic("txn", 1).unwrap();
    let mut c = client(&kafka).await;
    assert_eq!(c.partitions("plain").await.unwrap(), vec![0, 1, 2]);
    let missing = c.partitions("no-such-topic").await.unwrap_err().to_string();
    assert!(
        missing.contains("'no-such-topic' does not exist"),
        "{missing}"
    );

    // Plain writes, then offsets by time.
    let mut p = Producer::new(client(&kafka).await, Acks::All, Compression::Gzip);
    for (i, ts) in [(0, 1_000i64), (1, 2_000), (2, 3_000)] {
        p.send("plain", 0, None, value(&format!("m{i}")), ts);
    }
    p.flush().await.unwrap();
    let mut at = async |ts| {
        c.list_offsets("plain", &[0, 1], ts, Isolation::ReadUncommitted)
            .await
            .unwrap()
    };
    let earliest = at(EARLIEST).await;
    let by_time = at(1_500).await;
    let latest = at(LATEST).await;
    // Past the last record's time: the end, as Kafka consumers start.
    let after = at(9_000).await;
    assert_eq!(earliest[&0], 0);
    assert_eq!(by_time[&0], 1, "first record at or after 1.5 s");
    assert_eq!(latest[&0], 3);
    assert_eq!((after[&0], after[&1]), (3, 0));
    assert_eq!(
        read_all(&b, "plain", Isolation::ReadUncommitted).await,
        ["m0", "m1", "m2"]
    );

    // Group offsets of a group without members.
    assert_eq!(
        c.committed_offsets("g1", "plain", &[0]).await.unwrap()[&0],
        None
    );
    c.commit_offsets("g1", "plain", &[(0, 2)]).await.unwrap();
    assert_eq!(
        c.committed_offsets("g1", "plain", &[0]).await.unwrap()[&0],
        Some(2)
    );

    // A transaction flushed by one producer stays invisible to read_committed readers...
    let mut p = Producer::new(client(&kafka).await, Acks::All, Compression::None);
    p.begin("sink-0-1", 60_000).await.unwrap();
    p.send("txn", 0, None, value("a"), 1);
    p.send("txn", 0, None, value("b"), 2);
    let pending = p.prepare().await.unwrap().expect("a transaction");
    drop(p);
    assert!(
        read_all(&b, "txn", Isolation::ReadCommitted)
            .await
            .is_empty()
    );
    assert_eq!(
        read_all(&b, "txn", Isolation::ReadUncommitted).await,
        ["a", "b"]
    );
    // ...until another client commits it; committing again is harmless.
    end_transaction(&mut client(&kafka).await, &pending, true)
        .await
        .unwrap();
    end_transaction(&mut client(&kafka).await, &pending, true)
        .await
        .unwrap();
    read_committed(&b, "txn", &["a", "b"]).await;

    // A transaction left open by a crashed writer is aborted by fencing its id.
    let mut p = Producer::new(client(&kafka).await, Acks::All, Compression::Lz4);
    p.begin("sink-0-2", 60_000).await.unwrap();
    p.send("txn", 0, None, value("lost"), 3);
    p.prepare().await.unwrap();
    drop(p);
    let epoch = abort_lingering(&mut client(&kafka).await, "sink-0-2")
        .await
        .unwrap();
    assert!(epoch > 0, "the id was in use");
    assert_eq!(
        abort_lingering(&mut client(&kafka).await, "sink-0-3")
            .await
            .unwrap(),
        0,
        "a fresh id reports epoch 0"
    );
    let mut p = Producer::new(client(&kafka).await, Acks::All, Compression::Snappy);
    p.begin("sink-0-4", 60_000).await.unwrap();
    p.send("txn", 0, None, value("c"), 4);
    let pending = p.prepare().await.unwrap().unwrap();
    end_transaction(&mut client(&kafka).await, &pending, true)
        .await
        .unwrap();
    read_committed(&b, "txn", &["a", "b", "c"]).await;
    // The Java consumer agrees (read_committed, its default in the test script).
    let seen = kafka.consume("txn", 3).unwrap();
    assert_eq!(seen, ["a", "b", "c"]);
}

#[tokio::test]
async fn an_unreachable_broker_is_named() {
    let port = runnel_e2e::process::free_port().unwrap();
    let mut config = ClientConfig::new(&format!("127.0.0.1:{port}"));
    config.request_timeout = std::time::Duration::from_secs(2);
    let err = Client::connect(config)
        .await
        .err()
        .expect("no broker")
        .to_string();
    assert!(
        err.contains(&format!("'127.0.0.1:{port}' could be reached")),
        "{err}"
    );
}
