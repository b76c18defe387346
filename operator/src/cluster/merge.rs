//! Merging the user's pod template under the operator's pod: objects merge key by key, lists
//! of named items (containers, env, volumes, ports) merge by name, and for anything else the
//! operator's value wins.

use serde_json::Value;

/// `over` laid on top of `base`.
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(b) => merge(b, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Object(base)
        }
        (Value::Array(base), Value::Array(over)) if named(&base) && named(&over) => {
            let mut out = base;
            for item in over {
                match out.iter().position(|b| b["name"] == item["name"]) {
                    Some(i) => {
                        let b = std::mem::take(&mut out[i]);
                        out[i] = merge(b, item);
                    }
                    None => out.push(item),
                }
            }
            Value::Array(out)
        }
        (_, over) => over,
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_merge_by_name_and_the_operator_wins_elsewhere() {
        let user = json!({
            "metadata": {"labels": {"team": "a", "app": "mine"}},
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "containers": [
                    {"name": "sidecar", "image": "proxy"},
                    {"name": "taskmanager", "image": "user/image", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }
        });
        let ours = json!({
            "metadata": {"labels": {"app": "job"}},
            "spec": {"containers": [{"name": "taskmanager", "image": "runnel:1", "args": ["taskmanager"]}]}
        });
        let m = merge(user, ours);
        assert_eq!(m["metadata"]["labels"], json!({"team": "a", "app": "job"}));
        assert_eq!(m["spec"]["nodeSelector"]["disk"], "ssd");
        let containers = m["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[1]["image"], "runnel:1");
        assert_eq!(containers[1]["args"], json!(["taskmanager"]));
        assert_eq!(containers[1]["volumeMounts"][0]["mountPath"], "/data");
        assert_eq!(m["spec"]["volumes"][0]["name"], "data");
    }
}
