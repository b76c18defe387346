//! Kubernetes Events on a resource, one for every action the operator takes on it.

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use crate::context::Context;

/// Publishes an Event on `obj`; a failure to publish is logged, never fatal.
pub async fn publish<K>(ctx: &Context, obj: &K, warning: bool, reason: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(truncate(note)),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        warn!(reason, "publishing an Event: {e}");
    }
}

/// Event notes are at most 1 kB.
fn truncate(mut note: String) -> String {
    if note.len() > 1000 {
        let mut end = 1000;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}
