//! Where a JobManager's TaskManagers come from. The standalone resource manager has nothing
//! to start: TaskManagers register on their own, and a job short of slots waits for them. The
//! Kubernetes one ([`super::kubernetes`]) creates TaskManager pods from a template when slots
//! are missing and deletes the pods of lost ones.

/// What the slot pool asks of the platform that runs TaskManagers.
pub trait ResourceManager: Send + Sync {
    /// The jobs waiting for slots need `missing` more, all together, than the registered
    /// TaskManagers offer free (asked whenever another job starts waiting).
    fn request_slots(&self, missing: u32);
    /// A TaskManager registered (a platform that started it stops waiting for it).
    fn task_manager_registered(&self, _id: &str) {}
    /// A TaskManager was lost; a platform that started it may start a replacement.
    fn task_manager_lost(&self, id: &str);
    /// A TaskManager has had no slot taken for `resourcemanager.taskmanager-timeout`; a
    /// platform that started it may stop it: true when it does, and the slot pool forgets it
    /// at once, so no job is given its slots while it goes (told again each check until then).
    fn task_manager_idle(&self, _id: &str) -> bool {
        false
    }
}

/// TaskManagers started by someone else (`runnel taskmanager` by hand, a process manager).
#[derive(Debug, Default)]
pub struct Standalone;

impl ResourceManager for Standalone {
    fn request_slots(&self, missing: u32) {
        eprintln!(
            "runnel: waiting for TaskManagers to register: {missing} more slot(s) wanted \
             (slot.request.timeout)"
        );
    }

    fn task_manager_lost(&self, _: &str) {}
}
