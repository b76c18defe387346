//! Cluster options, with Flink's names: where the JobManager listens, how often the
//! TaskManagers prove they are alive, how many slots each offers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::connectors::parse_duration;
use crate::error::{Result, RunnelError};

/// Options of the JobManager and the TaskManagers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The JobManager's gRPC address as TaskManagers reach it (`jobmanager.rpc.address`,
    /// `jobmanager.rpc.port`, default 127.0.0.1:6123).
    pub rpc_address: String,
    /// The port of that address.
    pub rpc_port: u16,
    /// Where the JobManager's gRPC server listens (`jobmanager.bind-host`, default the RPC
    /// address).
    pub rpc_bind_host: String,
    /// How often a TaskManager sends a heartbeat (`heartbeat.interval`, default 10 s).
    pub heartbeat_interval: Duration,
    /// Silence after which a TaskManager is declared lost (`heartbeat.timeout`, default 50 s).
    pub heartbeat_timeout: Duration,
    /// Slots per TaskManager (`taskmanager.numberOfTaskSlots`, default 1).
    pub slots: u32,
    /// The host other TaskManagers send data to (`taskmanager.host`, default 127.0.0.1).
    pub task_manager_host: String,
    /// Where the data server listens (`taskmanager.bind-host`, default `taskmanager.host`).
    pub data_bind_host: String,
    /// Its port (`taskmanager.data.port`, default 0: any free one).
    pub data_port: u16,
    /// How long a TaskManager tries to reach the JobManager before giving up
    /// (`taskmanager.registration.timeout`, default 5 min).
    pub registration_timeout: Duration,
    /// How long a job waits for enough slots (`slot.request.timeout`, default 5 min).
    pub slot_request_timeout: Duration,
    /// Spread a job's slots over TaskManagers instead of filling one first
    /// (`cluster.evenly-spread-out-slots`, default false).
    pub spread_slots: bool,
    /// How long a TaskManager may have no slot taken before a resource manager that started it
    /// releases it (`resourcemanager.taskmanager-timeout`, default 30 s).
    pub idle_timeout: Duration,
}

impl ClusterConfig {
    /// Reads the options from a configuration map; bad values are named.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| options.get(k).map(|v| v.trim());
        let port = |k: &str, default: u16| -> Result<u16> {
            get(k).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| RunnelError::bad_option(k, v, "a port number"))
            })
        };
        let duration = |k: &str, default: Duration| duration_option(options, k, default);
        let host = |k: &str, default: &str| -> String {
            match get(k).unwrap_or(default) {
                "localhost" => "127.0.0.1".into(),
                h => h.to_string(),
            }
        };
        let rpc_address = host("jobmanager.rpc.address", "127.0.0.1");
        let task_manager_host = host("taskmanager.host", "127.0.0.1");
        let slots = match get("taskmanager.numberOfTaskSlots") {
            None => 1,
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                RunnelError::bad_option("taskmanager.numberOfTaskSlots", v, "a positive integer")
            })?,
        };
        let spread_slots = flag(options, "cluster.evenly-spread-out-slots")?;
        let config = ClusterConfig {
            rpc_bind_host: host("jobmanager.bind-host", &rpc_address),
            rpc_address,
            rpc_port: port("jobmanager.rpc.port", 6123)?,
            heartbeat_interval: duration("heartbeat.interval", Duration::from_secs(10))?,
            heartbeat_timeout: duration("heartbeat.timeout", Duration::from_secs(50))?,
            slots,
            data_bind_host: host("taskmanager.bind-host", &task_manager_host),
            task_manager_host,
            data_port: port("taskmanager.data.port", 0)?,
            registration_timeout: duration(
                "taskmanager.registration.timeout",
                Duration::from_secs(300),
            )?,
            slot_request_timeout: duration("slot.request.timeout", Duration::from_secs(300))?,
            spread_slots,
            idle_timeout: duration(
                "resourcemanager.taskmanager-timeout",
                Duration::from_secs(30),
            )?,
        };
        if config.heartbeat_timeout <= config.heartbeat_interval {
            return Err(RunnelError::Plan(format!(
                "configuration 'heartbeat.timeout' ({:?}) must be longer than 'heartbeat.interval' ({:?})",
                config.heartbeat_timeout, config.heartbeat_interval
            )));
        }
        Ok(config)
    }

    /// The address the JobManager's gRPC server binds.
    pub fn rpc_bind(&self) -> Result<SocketAddr> {
        socket_addr("jobmanager.bind-host", &self.rpc_bind_host, self.rpc_port)
    }

    /// The URI TaskManagers connect to.
    pub fn rpc_uri(&self) -> String {
        format!("http://{}:{}", self.rpc_address, self.rpc_port)
    }

    /// The address the data server binds.
    pub fn data_bind(&self) -> Result<SocketAddr> {
        socket_addr(
            "taskmanager.bind-host",
            &self.data_bind_host,
            self.data_port,
        )
    }
}

/// A positive duration option (Flink's syntax: `500 ms`, `15 s`, `2 min`), or `default`.
pub(crate) fn duration_option(
    options: &BTreeMap<String, String>,
    key: &str,
    default: Duration,
) -> Result<Duration> {
    options.get(key).map(|v| v.trim()).map_or(Ok(default), |v| {
        parse_duration(v)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| RunnelError::bad_option(key, v, "a positive duration"))
    })
}

/// A `true`/`false` option, false when unset; anything else is named.
pub(crate) fn flag(options: &BTreeMap<String, String>, key: &str) -> Result<bool> {
    match options.get(key).map(|v| v.trim()) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(RunnelError::bad_option(key, v, "true or false")),
    }
}

fn socket_addr(option: &str, host: &str, port: u16) -> Result<SocketAddr> {
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| RunnelError::bad_option(option, host, "an IP address or localhost"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::options;

    #[test]
    fn reads_flink_names_and_defaults() {
        let c = ClusterConfig::from_options(&options(&[])).unwrap();
        assert_eq!(c.rpc_uri(), "http://127.0.0.1:6123");
        assert_eq!(c.heartbeat_timeout, Duration::from_secs(50));
        assert_eq!(c.slots, 1);
        let c = ClusterConfig::from_options(&options(&[
            ("jobmanager.rpc.address", "localhost"),
            ("jobmanager.rpc.port", "7000"),
            ("heartbeat.interval", "200 ms"),
            ("heartbeat.timeout", "2 s"),
            ("taskmanager.numberOfTaskSlots", "4"),
            ("cluster.evenly-spread-out-slots", "true"),
        ]))
        .unwrap();
        assert_eq!(c.rpc_bind().unwrap().to_string(), "127.0.0.1:7000");
        assert_eq!(c.heartbeat_interval, Duration::from_millis(200));
        assert_eq!((c.slots, c.spread_slots), (4, true));
    }

    #[test]
    fn bad_values_are_named() {
        for (k, v, want) in [
            ("jobmanager.rpc.port", "x", "a port number"),
            ("taskmanager.numberOfTaskSlots", "0", "a positive integer"),
            ("heartbeat.timeout", "soon", "a positive duration"),
            ("cluster.evenly-spread-out-slots", "yes", "true or false"),
        ] {
            let e = ClusterConfig::from_options(&options(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(k) && e.contains(want), "{e}");
        }
        let e = ClusterConfig::from_options(&options(&[("heartbeat.interval", "60 s")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be longer"), "{e}");
    }
}
