//! The operator's command line: its options, and clear failures before it reaches Kubernetes.

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runnel-operator"))
}

#[test]
fn help_lists_the_options_the_chart_sets() {
    let out = operator().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--watch-namespaces",
        "--health-address",
        "--log-level",
        "--log-json",
        "--leader-election-namespace",
        "--deployment-timeout",
        "--observe-interval",
        "--lease-duration",
        "--renew-deadline",
        "--retry-period",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn a_bad_duration_is_named() {
    let out = operator()
        .args(["--deployment-timeout", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--deployment-timeout") && err.contains("'soon' is not a duration"),
        "{err}"
    );
}

#[test]
fn without_a_cluster_it_says_so_and_exits() {
    let out = operator()
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .args(["--health-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("kubeconfig"), "{err}");
}
