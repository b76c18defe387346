//! Conversions between the execution's messages and the control plane's protobuf ones.

use super::proto;
use super::proto::control::Kind as ControlKind;
use super::proto::ended::Outcome;
use crate::checkpoint::SubtaskAck;
use crate::dataflow::Barrier;
use crate::error::{Result, RunnelError};
use crate::execution::{MetricsSample, TaskAck, TaskControl};

/// A task's control message as it crosses to its TaskManager.
pub(crate) fn control_to_proto(deployment: u32, task: usize, c: TaskControl) -> proto::Control {
    let kind = match c {
        TaskControl::Trigger(b) => ControlKind::Trigger(proto::Barrier {
            id: b.id,
            timestamp: b.timestamp,
            savepoint: b.savepoint,
        }),
        TaskControl::Complete(id) => ControlKind::Complete(id),
        TaskControl::Stop => ControlKind::Stop(true),
        TaskControl::Finish => ControlKind::Finish(true),
    };
    proto::Control {
        deployment,
        task: task as u32,
        kind: Some(kind),
    }
}

/// The control message a TaskManager hands its task.
pub(crate) fn control_from_proto(c: proto::Control) -> Option<TaskControl> {
    Some(match c.kind? {
        ControlKind::Trigger(b) => TaskControl::Trigger(Barrier {
            id: b.id,
            timestamp: b.timestamp,
            savepoint: b.savepoint,
        }),
        ControlKind::Complete(id) => TaskControl::Complete(id),
        ControlKind::Stop(_) => TaskControl::Stop,
        ControlKind::Finish(_) => TaskControl::Finish,
    })
}

/// A task's acknowledgement as its TaskManager reports it.
pub(crate) fn ack_to_proto(ack: TaskAck) -> proto::Acknowledge {
    let (error, state) = match ack.result {
        Ok(a) => (
            String::new(),
            serde_json::to_vec(&a).expect("acknowledgements encode as JSON"),
        ),
        Err(e) => (e, Vec::new()),
    };
    proto::Acknowledge {
        checkpoint_id: ack.checkpoint_id,
        error,
        state,
    }
}

/// The acknowledgement of task `task` as the coordinator takes it.
pub(crate) fn ack_from_proto(task: usize, a: proto::Acknowledge) -> Result<TaskAck> {
    let result = if a.error.is_empty() {
        Ok(serde_json::from_slice::<SubtaskAck>(&a.state).map_err(|e| {
            RunnelError::Cluster(format!(
                "a TaskManager sent an unreadable acknowledgement of checkpoint {}: {e}",
                a.checkpoint_id
            ))
        })?)
    } else {
        Err(a.error)
    };
    Ok(TaskAck {
        checkpoint_id: a.checkpoint_id,
        task,
        result,
    })
}

/// A task's counters as its TaskManager reports them.
pub(crate) fn metrics_to_proto(m: &MetricsSample) -> proto::Metrics {
    proto::Metrics {
        elapsed_ms: m.elapsed_ms,
        records_in: m.records_in,
        records_out: m.records_out,
        idle_ms: m.idle_ms,
        backpressured_ms: m.backpressured_ms,
        pending_records: m
            .pending_records
            .map_or(-1, |p| p.min(i64::MAX as u64) as i64),
    }
}

/// A task's counters as the JobManager keeps them.
pub(crate) fn metrics_from_proto(m: &proto::Metrics) -> MetricsSample {
    MetricsSample {
        elapsed_ms: m.elapsed_ms,
        records_in: m.records_in,
        records_out: m.records_out,
        idle_ms: m.idle_ms,
        backpressured_ms: m.backpressured_ms,
        pending_records: u64::try_from(m.pending_records).ok(),
    }
}

/// How a task ended, as its TaskManager reports it.
pub(crate) fn ended_to_proto(result: &Result<()>) -> proto::Ended {
    let (outcome, error) = match result {
        Ok(()) => (Outcome::Finished, String::new()),
        Err(RunnelError::Cancelled) => (Outcome::Cancelled, String::new()),
        Err(e @ RunnelError::Network(_)) => (Outcome::Network, e.to_string()),
        Err(e) => (Outcome::Failed, e.to_string()),
    };
    proto::Ended {
        outcome: outcome as i32,
        error,
    }
}

/// How a task on TaskManager `from` ended.
pub(crate) fn ended_from_proto(from: &str, e: proto::Ended) -> Result<()> {
    match Outcome::try_from(e.outcome) {
        Ok(Outcome::Finished) => Ok(()),
        Ok(Outcome::Cancelled) => Err(RunnelError::Cancelled),
        Ok(Outcome::Network) => Err(RunnelError::Network(format!(
            "{} (on TaskManager {from})",
            e.error
        ))),
        Ok(Outcome::Failed) | Err(_) => Err(RunnelError::Remote {
            task_manager: from.to_string(),
            message: e.error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_cross_unchanged() {
        let b = Barrier {
            id: 9,
            timestamp: 1_700_000_000_123,
            savepoint: true,
        };
        for c in [
            TaskControl::Trigger(b),
            TaskControl::Complete(4),
            TaskControl::Stop,
            TaskControl::Finish,
        ] {
            let before = format!("{c:?}");
            let p = control_to_proto(3, 7, c);
            assert_eq!((p.deployment, p.task), (3, 7));
            assert_eq!(format!("{:?}", control_from_proto(p).unwrap()), before);
        }
    }

    #[test]
    fn metrics_cross_unchanged() {
        for pending in [None, Some(0), Some(12)] {
            let m = MetricsSample {
                elapsed_ms: 5,
                records_in: 6,
                records_out: 7,
                idle_ms: 1,
                backpressured_ms: 2,
                pending_records: pending,
            };
            assert_eq!(metrics_from_proto(&metrics_to_proto(&m)), m);
        }
    }

    #[test]
    fn acknowledgements_and_ends_cross_with_their_errors() {
        let ok = TaskAck {
            checkpoint_id: 5,
            task: 2,
            result: Ok(SubtaskAck {
                operators: Vec::new(),
                bytes: 10,
                written: 4,
            }),
        };
        let back = ack_from_proto(2, ack_to_proto(ok)).unwrap();
        let a = back.result.unwrap();
        assert_eq!((back.checkpoint_id, a.bytes, a.written), (5, 10, 4));
        let failed = TaskAck {
            checkpoint_id: 6,
            task: 1,
            result: Err("disk full".into()),
        };
        let back = ack_from_proto(1, ack_to_proto(failed)).unwrap();
        assert_eq!(back.result.unwrap_err(), "disk full");
        let garbled = proto::Acknowledge {
            checkpoint_id: 7,
            error: String::new(),
            state: b"{".to_vec(),
        };
        let e = ack_from_proto(0, garbled).unwrap_err().to_string();
        assert!(
            e.contains("unreadable acknowledgement of checkpoint 7"),
            "{e}"
        );

        assert!(ended_from_proto("tm", ended_to_proto(&Ok(()))).is_ok());
        assert!(matches!(
            ended_from_proto("tm", ended_to_proto(&Err(RunnelError::Cancelled))),
            Err(RunnelError::Cancelled)
        ));
        let e = ended_from_proto(
            "tm-1",
            ended_to_proto(&Err(RunnelError::Plan("bad".into()))),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "bad (on TaskManager tm-1)");
        let cut = RunnelError::Network("data connection broke".into());
        assert!(matches!(
            ended_from_proto("tm-2", ended_to_proto(&Err(cut))),
            Err(RunnelError::Network(m)) if m == "data connection broke (on TaskManager tm-2)"
        ));
    }
}
