//! `${env:NAME}` in configuration values and table options, replaced by the environment
//! variable `NAME` of the process that plans the job. This is how API keys and storage
//! credentials reach a job without being written into it: Kubernetes sets the variable from a
//! Secret, and only the placeholder is ever stored (in the script, a ConfigMap, an HA record).
//! Errors name the variable, never a value.

use crate::error::{Result, RunnelError};

/// Replaces every `${env:NAME}` in `value`; `place` says where it was (for errors).
pub(crate) fn resolve(value: &str, place: &dyn Fn() -> String) -> Result<String> {
    if !value.contains("${env:") {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after.find('}').ok_or_else(|| {
            RunnelError::Plan(format!("{}: '${{env:' without a closing '}}'", place()))
        })?;
        let name = &after[..end];
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(RunnelError::Plan(format!(
                "{}: '${{env:{name}}}' does not name an environment variable",
                place()
            )));
        }
        let resolved = std::env::var(name).map_err(|_| {
            RunnelError::Plan(format!(
                "{}: environment variable {name} is not set (set it in the pod, for example \
                 from a Secret with env.valueFrom.secretKeyRef)",
                place()
            ))
        })?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_errors_name_the_variable_only() {
        // SAFETY: the test's own variable; no other test reads or writes it.
        unsafe { std::env::set_var("RUNNEL_TEST_PLACEHOLDER_KEY", "s3cr3t") };
        let place = || "table `t` option 'password'".to_string();
        assert_eq!(resolve("plain", &place).unwrap(), "plain");
        assert_eq!(
            resolve("a-${env:RUNNEL_TEST_PLACEHOLDER_KEY}-b", &place).unwrap(),
            "a-s3cr3t-b"
        );
        let e = resolve("${env:RUNNEL_TEST_NOT_SET_ANYWHERE}", &place)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("table `t` option 'password'")
                && e.contains("RUNNEL_TEST_NOT_SET_ANYWHERE is not set"),
            "{e}"
        );
        for bad in ["${env:A", "${env:}", "${env:A-B}"] {
            let e = resolve(bad, &place).unwrap_err().to_string();
            assert!(!e.contains("s3cr3t") && e.contains("password"), "{e}");
        }
    }
}
