use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use runnel_types::{ChangeBatch, RowKind};

use super::frame::{self, Decoder, Encoder};
use super::*;
use crate::dataflow::Barrier;
use tokio::io::AsyncWriteExt;

fn batch(from: i64, kinds: bool) -> ChangeBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let data = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![from, from + 1, from + 2])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
        ],
    )
    .unwrap();
    if kinds {
        ChangeBatch::with_kinds(
            data,
            vec![RowKind::Insert, RowKind::UpdateBefore, RowKind::UpdateAfter],
        )
    } else {
        ChangeBatch::inserts(data)
    }
}

/// Messages compared by their debug form (batches have no `PartialEq` with kinds).
fn same(a: &Message, b: &Message) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

const TIMEOUT: Duration = Duration::from_secs(10);

async fn setup() -> (DataServer, Outbound) {
    let (faults, _) = mpsc::unbounded_channel();
    let server = DataServer::bind("127.0.0.1:0".parse().unwrap(), faults.clone(), TIMEOUT)
        .await
        .unwrap();
    let from = "127.0.0.1:7".parse().unwrap();
    let out = Outbound::connect(server.local_addr(), from, faults, TIMEOUT)
        .await
        .unwrap();
    (server, out)
}

#[tokio::test]
async fn every_message_crosses_in_order_on_its_channel() {
    let (server, out) = setup().await;
    let mut rx1 = server.register(1, 2, 1);
    let mut rx2 = server.register(2, 2, 1);
    let tx1 = out.channel(1, 1);
    let tx2 = out.channel(2, 1);
    let sent1 = vec![
        Message::Data(batch(0, true)),
        Message::Watermark(-5),
        Message::Data(batch(10, false)),
        Message::Barrier(Barrier {
            id: 7,
            timestamp: 1_700_000_000_000,
            savepoint: true,
        }),
        Message::Idle,
        Message::EndOfInput,
    ];
    let sent2 = vec![Message::Data(batch(100, false)), Message::EndOfInput];
    let (a, b) = (sent1.clone(), sent2.clone());
    tokio::spawn(async move {
        for m in a {
            tx1.send(m).await.unwrap();
        }
    });
    tokio::spawn(async move {
        for m in b {
            tx2.send(m).await.unwrap();
        }
    });
    for m in &sent1 {
        assert!(same(&rx1.recv().await.unwrap(), m));
    }
    for m in &sent2 {
        assert!(same(&rx2.recv().await.unwrap(), m));
    }
}

#[tokio::test]
async fn a_slow_consumer_holds_its_producer_back() {
    let (server, out) = setup().await;
    // Two frames on the wire, one in the consumer's queue, one in the producer's queue and
    // one waiting for credit: the sixth send cannot complete until the consumer reads.
    let mut rx = server.register(3, 2, 1);
    let tx = out.channel(3, 1);
    let mut accepted = 0;
    for i in 0..5 {
        tokio::time::timeout(Duration::from_secs(10), tx.send(Message::Watermark(i)))
            .await
            .expect("sends within the credit and queues complete")
            .unwrap();
        accepted += 1;
    }
    let blocked = tokio::time::timeout(Duration::from_millis(300), tx.send(Message::Watermark(5)));
    assert!(
        blocked.await.is_err(),
        "a send beyond credit and queues went through"
    );
    // Reading lets everything through, in order.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(Message::Watermark(w)) = rx.recv().await {
            got.push(w);
            if w == 9 {
                break;
            }
        }
        got
    });
    for i in 5..10 {
        tx.send(Message::Watermark(i)).await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(accepted, 5);
}

#[tokio::test]
async fn a_channel_opened_before_it_is_registered_loses_nothing() {
    let (server, out) = setup().await;
    let tx = out.channel(9, 4);
    for i in 0..3 {
        tx.send(Message::Watermark(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rx = server.register(9, 1, 1);
    for i in 0..3 {
        assert!(same(&rx.recv().await.unwrap(), &Message::Watermark(i)));
    }
}

#[tokio::test]
async fn a_broken_connection_reports_and_closes_the_open_channels_only() {
    let (faults_tx, mut faults) = mpsc::unbounded_channel();
    let server = DataServer::bind("127.0.0.1:0".parse().unwrap(), faults_tx, TIMEOUT)
        .await
        .unwrap();
    // A sender that dies abruptly: a raw socket that says hello as the TaskManager whose
    // data server is at `from`, opens two channels, ends one and drops.
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    let from: SocketAddr = "10.1.2.3:6121".parse().unwrap();
    let (finished, cut) = (channel_id(4, 1), channel_id(4, 2));
    let mut rx_finished = server.register(finished, 2, 2);
    let mut rx_cut = server.register(cut, 2, 2);
    let mut bytes = Vec::new();
    frame::hello(from, &mut bytes);
    frame::open(finished, &mut bytes);
    frame::open(cut, &mut bytes);
    Encoder::new(finished)
        .message(&Message::EndOfInput, &mut bytes)
        .unwrap();
    Encoder::new(cut)
        .message(&Message::Watermark(3), &mut bytes)
        .unwrap();
    socket.write_all(&bytes).await.unwrap();
    assert!(same(
        &rx_finished.recv().await.unwrap(),
        &Message::EndOfInput
    ));
    assert!(same(&rx_cut.recv().await.unwrap(), &Message::Watermark(3)));
    drop(socket);
    let fault = tokio::time::timeout(Duration::from_secs(10), faults.recv())
        .await
        .expect("a fault within 10 s")
        .unwrap();
    assert_eq!(fault.channels, vec![cut], "{fault:?}");
    assert_eq!(deployment_of(fault.channels[0]), 4);
    // The sender is named by its data address, not the connection's ephemeral port.
    assert_eq!(fault.peer, from, "{fault:?}");
    assert!(
        fault.error.contains("data connection with 10.1.2.3:6121"),
        "{fault:?}"
    );
    // The cut channel closes without its end: the consumer sees it gone, not finished.
    assert!(rx_cut.recv().await.is_none());
}

#[tokio::test]
async fn frames_of_a_released_deployment_are_dropped_without_breaking_the_connection() {
    let (server, out) = setup().await;
    let old = channel_id(1, 0);
    let new = channel_id(2, 0);
    let _rx_old = server.register(old, 4, 4);
    let tx_old = out.channel(old, 4);
    tx_old.send(Message::Watermark(1)).await.unwrap();
    server.release(1);
    // The old deployment's producer goes on a little; the new one shares the connection.
    tx_old.send(Message::Watermark(2)).await.unwrap();
    let mut rx_new = server.register(new, 2, 2);
    let tx_new = out.channel(new, 2);
    tx_new.send(Message::Watermark(7)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx_new.recv())
        .await
        .expect("the new deployment's frame arrives")
        .unwrap();
    assert!(same(&got, &Message::Watermark(7)));
}

#[tokio::test]
async fn a_consumer_that_goes_away_fails_its_producer_as_a_local_channel_would() {
    let (server, out) = setup().await;
    let ch = channel_id(3, 9);
    let rx = server.register(ch, 1, 1);
    let tx = out.channel(ch, 1);
    tx.send(Message::Watermark(1)).await.unwrap();
    drop(rx);
    // The producer is told, however full its queue: a send fails within a few tries.
    let failed = tokio::time::timeout(Duration::from_secs(10), async {
        for i in 0.. {
            if tx.send(Message::Watermark(i)).await.is_err() {
                return i;
            }
        }
        unreachable!()
    })
    .await
    .expect("the producer learns its consumer is gone");
    assert!(failed < 10, "{failed} sends went through");
    // A sender opening the channel only now is told at once.
    let late = out.channel(ch, 1);
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        while late.send(Message::Idle).await.is_ok() {}
    })
    .await;
    assert!(refused.is_ok(), "a late sender was not refused");
}

#[test]
fn corrupt_frames_are_named() {
    let err = frame::split(&[1, 2]).unwrap_err().to_string();
    assert!(err.contains("corrupt data-plane frame"), "{err}");
    let err = frame::control(42, 1, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown kind 42"), "{err}");
    let err = frame::control(1, 3, &[0; 3]).unwrap_err().to_string();
    assert!(err.contains("channel 3") && err.contains("not 8"), "{err}");
    // A data frame whose row kinds run past its end.
    let err = Decoder::default()
        .data(&[1, 9, 0, 0, 0, 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("row kinds"), "{err}");
    // The schema crosses once per channel: the second frame is smaller than the first.
    let mut enc = Encoder::new(1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    enc.message(&Message::Data(batch(0, false)), &mut a)
        .unwrap();
    enc.message(&Message::Data(batch(3, false)), &mut b)
        .unwrap();
    assert!(b.len() < a.len(), "{} then {} bytes", a.len(), b.len());
    let mut dec = Decoder::default();
    for f in [&a, &b] {
        let (kind, ch, p) = frame::split(&f[4..]).unwrap();
        assert!(frame::is_data(kind) && ch == 1);
        assert_eq!(dec.data(p).unwrap().num_rows(), 3);
    }
}
