use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::task::Task;
use crate::error::{Result, RunnelError};

/// What a TaskManager tells the JobManager about a subtask.
#[derive(Debug)]
pub(crate) struct TaskReport {
    pub(crate) vertex: usize,
    pub(crate) subtask: u32,
    pub(crate) result: Result<()>,
}

/// Runs subtasks in its slots. In local mode it lives in the JobManager's process.
pub struct TaskManager {
    id: String,
    slots: u32,
}

impl TaskManager {
    /// A TaskManager with `slots` slots (Flink's `taskmanager.numberOfTaskSlots`).
    pub fn new(id: impl Into<String>, slots: u32) -> Self {
        TaskManager {
            id: id.into(),
            slots,
        }
    }

    /// Its id, as shown by `/taskmanagers`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Number of slots; with slot sharing, one subtask of every vertex fits in a slot.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Starts a subtask; its outcome is reported on `reports`.
    pub(crate) fn deploy(
        &self,
        vertex: usize,
        task: Task,
        reports: mpsc::UnboundedSender<TaskReport>,
    ) -> AbortHandle {
        let subtask = task.context().index;
        let name = task.context().vertex_name.clone();
        let handle = tokio::spawn(async move {
            let result = task.run().await.map_err(|e| match e {
                RunnelError::Cancelled => RunnelError::Cancelled,
                other => RunnelError::Task {
                    vertex: name,
                    subtask,
                    source: Box::new(other),
                },
            });
            let _ = reports.send(TaskReport {
                vertex,
                subtask,
                result,
            });
        });
        handle.abort_handle()
    }
}
