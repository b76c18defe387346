use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::task::Task;
use crate::error::{Result, RunnelError};

/// What a TaskManager tells the JobManager about a subtask.
#[derive(Debug)]
pub(crate) struct TaskReport {
    /// The task's number in the JobMaster's list.
    pub(crate) task: usize,
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
        task: Task,
        reports: mpsc::UnboundedSender<TaskReport>,
    ) -> AbortHandle {
        let subtask = task.context().index;
        let index = task.checkpointing.index;
        let name = task.context().vertex_name.clone();
        let handle = tokio::spawn(task.run());
        let abort = handle.abort_handle();
        // A watcher turns the subtask's end (a panic included) into a report.
        tokio::spawn(async move {
            let result = match handle.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(RunnelError::Cancelled)) => Err(RunnelError::Cancelled),
                Ok(Err(other)) => Err(RunnelError::Task {
                    vertex: name,
                    subtask,
                    cause: Box::new(other),
                }),
                Err(e) if e.is_cancelled() => Err(RunnelError::Cancelled),
                Err(e) => {
                    let msg = e
                        .into_panic()
                        .downcast::<String>()
                        .map(|s| *s)
                        .or_else(|p| p.downcast::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|_| "unknown panic".into());
                    Err(RunnelError::Task {
                        vertex: name,
                        subtask,
                        cause: Box::new(RunnelError::Internal(msg)),
                    })
                }
            };
            let _ = reports.send(TaskReport {
                task: index,
                result,
            });
        });
        abort
    }
}
