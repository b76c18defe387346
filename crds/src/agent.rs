//! `Agent`: a streaming job whose main operator is an LLM agent, one event loop per key.
//!
//! The resource and its validation exist now; the runtime that runs it comes later, and until
//! then the operator marks an `Agent` with a `Supported=False` condition instead of pretending.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SecretKeySelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSpec;
use crate::job::{JobLifecycle, SavepointPolicy};
use crate::status::FlinkJobStatus;

/// Status of an `Agent`: the same as a job's.
pub type AgentStatus = FlinkJobStatus;

/// An agent on a stream: events of one key are handled in order and share memory.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "runnel.dev",
    version = "v1alpha1",
    kind = "Agent",
    doc = "An LLM agent on a stream, one event loop per key.",
    namespaced,
    status = "AgentStatus",
    category = "runnel",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".status.lifecycleState"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 40").message("the name must be at most 40 characters (it names the pods, Services and Lease of the cluster)"),
    validation = Rule::new("has(self.spec.sessionRef) || has(self.spec.image)").message("spec.image is required unless spec.sessionRef names a FlinkSession").field_path(".spec.image"),
    validation = Rule::new("self.spec.models.exists(m, m.name == self.spec.model)").message("spec.model must name one of spec.models").field_path(".spec.model"),
    validation = Rule::new("self.spec.mode != 'react' || size(self.spec.tools) > 0").message("mode react needs at least one tool").field_path(".spec.tools")
)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// The cluster, when the agent has its own.
    #[serde(flatten)]
    pub cluster: ClusterSpec,
    /// The `FlinkSession` to run in instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ref: Option<String>,
    /// Parallelism, upgrade mode, state and nonces.
    #[serde(default)]
    pub job: JobLifecycle,
    /// Periodic savepoints, retention, and what deletion does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoints: Option<SavepointPolicy>,
    /// The events.
    pub input: AgentInput,
    /// Model connections by name.
    #[x_kube(validation = Rule::new("size(self) >= 1").message("name at least one model"))]
    #[x_kube(validation = Rule::new("self.all(m, self.exists_one(n, n.name == m.name))").message("model names must be unique"))]
    #[schemars(length(max = 16))]
    pub models: Vec<ModelConnection>,
    /// The model (one of `models`) the agent talks to.
    #[schemars(length(max = 63))]
    pub model: String,
    /// The prompts.
    pub prompts: Prompts,
    /// Tools the model may call.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.all(t, self.exists_one(u, u.name == t.name))").message("tool names must be unique"))]
    #[schemars(length(max = 32))]
    pub tools: Vec<AgentTool>,
    /// What the agent remembers per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<AgentMemory>,
    /// Fixed actions, or the model choosing tools.
    #[serde(default)]
    pub mode: AgentMode,
    /// The most model calls per event in `react` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 50").message("must be between 1 and 50"))]
    pub max_steps: Option<i32>,
    /// Where results go.
    pub output: AgentOutput,
}

/// The source table(s) and the key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInput {
    /// Flink SQL DDL creating the source table(s).
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub ddl: String,
    /// The table the agent reads.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub table: String,
    /// Key columns: events of one key are handled in order and share memory.
    #[x_kube(validation = Rule::new("size(self) >= 1").message("name at least one key column"))]
    pub key: Vec<String>,
}

/// A named connection to a model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.provider == 'ollama' || has(self.apiKeySecretRef) || (self.provider == 'openai' && has(self.endpoint))").message("apiKeySecretRef is required for this provider (an openai provider with its own endpoint may go without)"))]
pub struct ModelConnection {
    /// The name prompts and tools refer to.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$')").message("must be lower-case letters, digits, '-' or '_'"))]
    #[schemars(length(max = 63))]
    pub name: String,
    /// The API it speaks.
    pub provider: ModelProvider,
    /// The API's base URL (defaults to the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    /// The model name at the provider.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub model: String,
    /// Options such as `temperature` and `max-tokens`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// The Secret key holding the API key; it reaches the pods as an environment variable only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeySelector>,
}

/// Model APIs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelProvider {
    /// OpenAI's API, or any server compatible with it.
    #[default]
    Openai,
    Anthropic,
    Ollama,
}

/// The prompts, as templates over the input's columns (`{column}`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prompts {
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The user message made from each event.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub user: String,
}

/// A tool the model may call: exactly one of an HTTP endpoint, an MCP server or a SQL lookup.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.http), has(self.mcp), has(self.sql)].filter(x, x).size() == 1").message("set exactly one of http, mcp and sql"))]
pub struct AgentTool {
    /// The name the model calls it by.
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9_-]{1,64}$')").message("must be 1 to 64 letters, digits, '_' or '-'"))]
    #[schemars(length(max = 64))]
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An HTTP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTool>,
    /// The tools of an MCP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpTool>,
    /// A SQL lookup over a table of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlTool>,
}

/// An HTTP tool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpTool {
    /// The URL.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: String,
    /// The method.
    #[serde(default)]
    pub method: HttpMethod,
    /// The JSON schema of the parameters the model fills in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::cluster::free_form")]
    pub parameters: Option<serde_json::Value>,
}

/// Methods an HTTP tool may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[default]
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

/// An MCP server.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpTool {
    /// The server's streamable-HTTP URL.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: String,
}

/// A SQL lookup.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqlTool {
    /// A query with named parameters (`:name`) the model fills in.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub query: String,
}

/// What the agent remembers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentMemory {
    /// Recent turns per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_term: Option<ShortTermMemory>,
    /// A vector store searched for each event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_term: Option<LongTermMemory>,
}

/// Recent turns per key, in keyed state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShortTermMemory {
    /// Turns kept per key.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("must be between 1 and 1000"))]
    pub max_turns: i32,
    /// Forget a key's turns after this long without events (`30m`, `1d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(ms|s|m|h|d)$')").message("must be a duration such as 30m or 1d"))]
    #[schemars(length(max = 32))]
    pub ttl: Option<String>,
}

/// A vector store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LongTermMemory {
    /// The table (declared in `input.ddl`) searched with `VECTOR_SEARCH`.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub table: String,
    /// The embedding model (one of `models`).
    #[schemars(length(max = 63))]
    pub embedding_model: String,
    /// Results per search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("must be between 1 and 100"))]
    pub top_k: Option<i32>,
}

/// How the agent acts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentMode {
    /// One model call per event, tools called as the workflow says.
    #[default]
    Workflow,
    /// The model chooses tools until it answers, up to `maxSteps` calls.
    React,
}

/// The sink.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentOutput {
    /// Flink SQL DDL creating the sink table.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub ddl: String,
    /// The sink table.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub table: String,
    /// Sink column → expression over the input columns and `response` (the agent's answer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}
