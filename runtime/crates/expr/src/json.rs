//! JSON_VALUE / JSON_QUERY / JSON_EXISTS over a subset of SQL/JSON paths
//! (`[lax|strict] $.key.other[0]['quoted key']`).

use serde_json::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Parses `$.a.b[0]['c d']`, with an optional `lax` / `strict` mode prefix.
pub(crate) fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p
        .strip_prefix("lax ")
        .or_else(|| p.strip_prefix("strict "))
        .unwrap_or(p)
        .trim();
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(format!("JSON path '{path}' must start with '$'"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("empty key in JSON path '{path}'"));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unclosed '[' in JSON path '{path}'"))?;
            let inner = r[..end].trim();
            if let Some(q) = inner
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
            {
                steps.push(Step::Key(q.to_string()));
            } else {
                let i = inner.parse::<usize>().map_err(|_| {
                    format!("unsupported subscript [{inner}] in JSON path '{path}'")
                })?;
                steps.push(Step::Index(i));
            }
            rest = &r[end + 1..];
        } else {
            return Err(format!("unexpected '{rest}' in JSON path '{path}'"));
        }
    }
    Ok(steps)
}

/// The value at `path`, if present.
pub(crate) fn lookup<'a>(mut v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    for step in path {
        v = match (step, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// JSON_VALUE's text of a scalar (strings unquoted); objects, arrays and JSON null give NULL.
pub(crate) fn scalar_text(v: &Value, out: &mut String) -> bool {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("$.a.b[2]['c d']").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(2),
                Step::Key("c d".into())
            ]
        );
        assert_eq!(parse_path("lax $").unwrap(), vec![]);
        assert!(parse_path("a.b").is_err());
        let v: Value = serde_json::from_str(r#"{"a": {"b": [1, 2, {"c d": "x"}]}}"#).unwrap();
        let p = parse_path("$.a.b[2]['c d']").unwrap();
        assert_eq!(lookup(&v, &p), Some(&Value::String("x".into())));
    }
}
