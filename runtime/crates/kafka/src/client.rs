//! Cluster metadata and one connection per broker.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, GroupId, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, TopicName,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
};
use kafka_protocol::protocol::StrBytes;

use crate::conn::Connection;
use crate::error::{Error, Result, check};

/// Client settings, from the table's `properties.*` options.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// `client.id` sent with every request.
    pub client_id: String,
    /// How long one call may take.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// Settings for `servers` with Runnel's defaults.
    pub fn new(servers: &str) -> Self {
        ClientConfig {
            bootstrap_servers: servers.to_string(),
            client_id: "runnel".to_string(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Which records a read sees: Kafka's `isolation.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Everything written, including records of open or aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only records of committed transactions (and non-transactional ones).
    ReadCommitted,
}

impl Isolation {
    pub(crate) fn code(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Special timestamps of ListOffsets.
pub const EARLIEST: i64 = -2;
/// The end of the log (the next offset to be written).
pub const LATEST: i64 = -1;

/// A broker connection pool with the cluster's metadata.
pub struct Client {
    config: ClientConfig,
    brokers: HashMap<i32, String>,
    conns: HashMap<String, Connection>,
    /// Topic → partition → leader broker id.
    topics: HashMap<String, BTreeMap<i32, i32>>,
}

impl Client {
    /// Connects to the first reachable bootstrap server and reads the broker list.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let mut client = Client {
            config,
            brokers: HashMap::new(),
            conns: HashMap::new(),
            topics: HashMap::new(),
        };
        client.refresh(Some(&[])).await?;
        Ok(client)
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    async fn conn(&mut self, addr: &str) -> Result<&mut Connection> {
        if !self.conns.contains_key(addr) {
            let c =
                Connection::open(addr, &self.config.client_id, self.config.request_timeout).await?;
            self.conns.insert(addr.to_string(), c);
        }
        Ok(self.conns.get_mut(addr).expect("inserted above"))
    }

    /// Sends `req` to the broker at `addr`; a connection that failed is dropped, so the next
    /// call reconnects.
    pub(crate) async fn call_at<R: kafka_protocol::protocol::Request>(
        &mut self,
        addr: &str,
        req: &R,
    ) -> Result<R::Response> {
        let result = self.conn(addr).await?.call(req).await;
        if let Err(e) = &result {
            self.drop_conn_on(addr, e);
        }
        result
    }

    /// Forgets a connection after an I/O error so the next call reconnects.
    fn drop_conn_on(&mut self, addr: &str, e: &Error) {
        if matches!(
            e,
            Error::Io { .. } | Error::Timeout { .. } | Error::Protocol { .. }
        ) {
            self.conns.remove(addr);
        }
    }

    pub(crate) fn broker_addr(&self, id: i32) -> Result<String> {
        self.brokers
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Protocol {
                addr: self.config.bootstrap_servers.clone(),
                message: format!("broker {id} is not in the cluster metadata"),
            })
    }

    /// Any broker that answers: known brokers first, then the bootstrap list.
    async fn any_conn(&mut self) -> Result<String> {
        let mut candidates: Vec<String> = self.conns.keys().cloned().collect();
        candidates.extend(self.brokers.values().cloned());
        candidates.extend(
            self.config
                .bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
        let mut last = None;
        for addr in candidates {
            match self.conn(&addr).await {
                Ok(_) => return Ok(addr),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Unreachable {
            servers: self.config.bootstrap_servers.clone(),
            last: Box::new(last.unwrap_or_else(|| Error::Protocol {
                addr: String::new(),
                message: "'properties.bootstrap.servers' is empty".into(),
            })),
        })
    }

    /// Reloads brokers and the given topics (`None`: every topic).
    pub async fn refresh(&mut self, topics: Option<&[&str]>) -> Result<()> {
        let addr = self.any_conn().await?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let resp = self.call_at(&addr, &req).await?;
        self.brokers = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        if topics.is_none() {
            self.topics.clear();
        }
        for t in resp.topics {
            let Some(name) = t.name else { continue };
            let name = name.0.to_string();
            if t.error_code != 0 || t.is_internal {
                self.topics.remove(&name);
                continue;
            }
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id.0))
                .collect();
            self.topics.insert(name, parts);
        }
        Ok(())
    }

    /// Names of all (non-internal) topics.
    pub async fn list_topics(&mut self) -> Result<Vec<String>> {
        self.refresh(None).await?;
        let mut names: Vec<String> = self.topics.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    /// The partition ids of `topic`, loading its metadata when needed.
    pub async fn partitions(&mut self, topic: &str) -> Result<Vec<i32>> {
        if !self.topics.contains_key(topic) {
            self.refresh(Some(&[topic])).await?;
        }
        self.topics
            .get(topic)
            .map(|p| p.keys().copied().collect())
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))
    }

    /// The current leader of a partition.
    pub(crate) async fn leader(&mut self, topic: &str, partition: i32) -> Result<i32> {
        if !self.topics.contains_key(topic) {
            self.refresh(Some(&[topic])).await?;
        }
        let leader = self
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))?
            .get(&partition)
            .copied()
            .ok_or_else(|| Error::Protocol {
                addr: self.config.bootstrap_servers.clone(),
                message: format!("topic '{topic}' has no partition {partition}"),
            })?;
        if leader < 0 {
            return Err(Error::Broker {
                api: "Metadata",
                context: format!("for {topic}-{partition}"),
                error: ResponseError::LeaderNotAvailable,
            });
        }
        Ok(leader)
    }

    /// Offsets of `partitions` of `topic` at `timestamp` ([`EARLIEST`], [`LATEST`] or epoch
    /// milliseconds: the first offset at or after it, or the end when there is none).
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
        isolation: Isolation,
    ) -> Result<HashMap<i32, i64>> {
        let mut by_leader: HashMap<i32, Vec<i32>> = HashMap::new();
        for p in partitions {
            by_leader
                .entry(self.leader(topic, *p).await?)
                .or_default()
                .push(*p);
        }
        let mut out = HashMap::new();
        let mut at_end = Vec::new();
        for (leader, parts) in by_leader {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(isolation.code())
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        ),
                ]);
            let addr = self.broker_addr(leader)?;
            let resp = self.call_at(&addr, &req).await?;
            for t in resp.topics {
                for p in t.partitions {
                    check(p.error_code, "ListOffsets", || {
                        format!("for {topic}-{}", p.partition_index)
                    })?;
                    if p.offset < 0 {
                        at_end.push(p.partition_index);
                    } else {
                        out.insert(p.partition_index, p.offset);
                    }
                }
            }
        }
        if !at_end.is_empty() {
            // No record at or after the timestamp: start at the end, as Kafka consumers do.
            let ends = Box::pin(self.list_offsets(topic, &at_end, LATEST, isolation)).await?;
            out.extend(ends);
        }
        Ok(out)
    }

    /// The address of the coordinator of a consumer group (`key_type` 0) or transactional
    /// id (1), waiting while the coordinator loads.
    pub(crate) async fn coordinator(&mut self, key: &str, key_type: i8) -> Result<String> {
        retrying!(self, self.coordinator_once(key, key_type).await)
    }

    async fn coordinator_once(&mut self, key: &str, key_type: i8) -> Result<String> {
        let addr = self.any_conn().await?;
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_key_type(key_type);
        let resp = self.call_at(&addr, &req).await?;
        check(resp.error_code, "FindCoordinator", || {
            format!("for '{key}'")
        })?;
        Ok(format!("{}:{}", resp.host.as_str(), resp.port))
    }

    /// The offsets a consumer group committed for `partitions` of `topic` (None: nothing).
    pub async fn committed_offsets(
        &mut self,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        retrying!(
            self,
            self.committed_offsets_once(group, topic, partitions).await
        )
    }

    async fn committed_offsets_once(
        &mut self,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<HashMap<i32, Option<i64>>> {
        let addr = self.coordinator(group, 0).await?;
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_indexes(partitions.to_vec()),
            ]));
        let resp = self.call_at(&addr, &req).await?;
        check(resp.error_code, "OffsetFetch", || {
            format!("for group '{group}'")
        })?;
        let mut out = HashMap::new();
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, "OffsetFetch", || {
                    format!("for group '{group}' on {topic}-{}", p.partition_index)
                })?;
                out.insert(
                    p.partition_index,
                    (p.committed_offset >= 0).then_some(p.committed_offset),
                );
            }
        }
        Ok(out)
    }

    /// Records `offsets` (partition → next offset to read) of `topic` for a consumer group
    /// that has no members (the group is only a place to show progress).
    pub async fn commit_offsets(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<()> {
        retrying!(self, self.commit_offsets_once(group, topic, offsets).await)
    }

    async fn commit_offsets_once(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<()> {
        let addr = self.coordinator(group, 0).await?;
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_retention_time_ms(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(
                        offsets
                            .iter()
                            .map(|(p, o)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(*o)
                                    .with_committed_leader_epoch(-1)
                            })
                            .collect(),
                    ),
            ]);
        let resp = self.call_at(&addr, &req).await?;
        for t in resp.topics {
            for p in t.partitions {
                check(p.error_code, "OffsetCommit", || {
                    format!("for group '{group}' on {topic}-{}", p.partition_index)
                })?;
            }
        }
        Ok(())
    }
}
