//! A network partition between two TaskManagers, made with network namespaces (needs root and
//! iproute2): each TaskManager runs in its own namespace, joined to the JobManager's by a
//! bridge; a blackhole route in each cuts the TaskManagers off from each other while both
//! keep talking to the JobManager. Their data connections must break (keepalive and
//! unacknowledged-data timeouts) instead of waiting forever, the job must restart until the
//! partition heals, and then finish with exactly-once output.

use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::WINDOWS_AND_JOIN;
use support::cluster::Cluster;

/// The namespaces and links of the test; removed on drop.
struct Network {
    n: u32,
    subnet: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run ip ({e}): this test needs iproute2 and root (scripts/test.sh runs as root)"
        )
    });
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root for network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Network {
    /// A switch namespace with a bridge; the JobManager's end of it in this namespace at
    /// `.1`, TaskManager namespaces `a` and `b` at `.11` and `.12`.
    fn new() -> Self {
        let n = std::process::id() % 10_000;
        let net = Network {
            n,
            subnet: format!("10.213.{}", n % 200),
        };
        net.teardown();
        let sw = net.ns("sw");
        ip(&["netns", "add", &sw]);
        ip(&[
            "netns", "exec", &sw, "ip", "link", "add", "br0", "type", "bridge",
        ]);
        ip(&["netns", "exec", &sw, "ip", "link", "set", "br0", "up"]);
        for (name, host) in [("jm", 1), ("a", 11), ("b", 12)] {
            let (inner, outer) = (format!("rn{name}{n}"), format!("rs{name}{n}"));
            ip(&[
                "link", "add", &inner, "type", "veth", "peer", "name", &outer,
            ]);
            ip(&["link", "set", &outer, "netns", &sw]);
            ip(&[
                "netns", "exec", &sw, "ip", "link", "set", &outer, "master", "br0",
            ]);
            ip(&["netns", "exec", &sw, "ip", "link", "set", &outer, "up"]);
            let addr = format!("{}.{host}/24", net.subnet);
            if name == "jm" {
                ip(&["addr", "add", &addr, "dev", &inner]);
                ip(&["link", "set", &inner, "up"]);
            } else {
                let ns = net.ns(name);
                ip(&["netns", "add", &ns]);
                ip(&["link", "set", &inner, "netns", &ns]);
                ip(&[
                    "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &inner,
                ]);
                ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"]);
                ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            }
        }
        net
    }

    fn ns(&self, name: &str) -> String {
        format!("runnel-{name}-{}", self.n)
    }

    fn addr(&self, host: u8) -> String {
        format!("{}.{host}", self.subnet)
    }

    /// Cuts (or with `heal`, restores) the path between the two TaskManagers.
    fn partition(&self, heal: bool) {
        let verb = if heal { "del" } else { "add" };
        for (ns, other) in [("a", 12), ("b", 11)] {
            let to = format!("{}/32", self.addr(other));
            ip(&[
                "netns",
                "exec",
                &self.ns(ns),
                "ip",
                "route",
                verb,
                "blackhole",
                &to,
            ]);
        }
    }

    fn teardown(&self) {
        for name in ["a", "b", "sw"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("rnjm{}", self.n)])
            .output();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}

#[test]
fn a_partition_between_task_managers_ends_in_recovery_not_a_hang() {
    let net = Network::new();
    let jm = net.addr(1);
    let mut cluster = Cluster::start_with(
        "partition",
        0,
        1,
        false,
        &[
            format!("jobmanager.rpc.address={jm}"),
            format!("rest.bind-address={jm}"),
        ],
    );
    // Long enough to be running when the partition comes.
    cluster.events = 16_000_000;
    for (name, host) in [("a", 11), ("b", 12)] {
        let launcher = ["ip", "netns", "exec", &net.ns(name)].map(String::from);
        let extra = [
            format!("jobmanager.rpc.address={jm}"),
            format!("taskmanager.host={}", net.addr(host)),
        ];
        cluster.add_task_manager_via(1, &launcher, &extra);
    }
    let id = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait("a completed checkpoint", || {
        cluster.completed_checkpoints(&id) >= 1
    });
    net.partition(false);
    // The cut data connections break within the timeout (3 s here) and fail the job; while
    // the partition lasts, restarts cannot connect the TaskManagers either.
    let cut = Instant::now();
    cluster.wait("the partition to fail the job", || {
        cluster.jm.log().contains("restart 1 in")
    });
    let noticed = cut.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    net.partition(true);
    cluster.wait_finished(&id);
    let log = cluster.jm.log();
    let restart = log.lines().find(|l| l.contains("restart 1 in")).unwrap();
    assert!(restart.contains("data connection"), "{restart}");
    assert!(
        noticed < Duration::from_secs(60),
        "noticed after {noticed:?}"
    );
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
}
