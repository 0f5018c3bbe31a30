//! Tools the agent can call. One file per tool; each is a typed args struct
//! (serde + schemars) plus `run`. Tools do their job and nothing else: RBAC,
//! approvals, audit, timeouts and redaction belong to [`registry`], so a new
//! tool gets them for free.
//!
//! Invariant: nothing under `tools/` imports an adapter or the LLM client.

pub mod alpha_vantage_health;
pub mod approval;
pub mod backtest_report;
pub mod backtest_status;
pub mod cache_status;
pub mod call;
pub mod compact;
pub mod compare_strategies;
pub mod data_quality_summary;
pub mod model_metrics;
pub mod recent_failures;
pub mod registry;
pub mod runbooks;
pub mod symbols;
pub mod trigger_backtest;
pub mod usage_report;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::{Caller, Language, RequestId, Role, Surface};
use crate::platform::{ResolveError, Strategy, resolve_strategy};

/// The longest look-back (30 days) of the tools that take `since_hours`.
pub const MAX_SINCE_HOURS: u32 = 720;

/// `since_hours` within 1..=[`MAX_SINCE_HOURS`], or the error the model can act on.
pub fn check_since_hours(hours: u32) -> Result<(), ToolError> {
    if (1..=MAX_SINCE_HOURS).contains(&hours) {
        Ok(())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "since_hours must be between 1 and {MAX_SINCE_HOURS}"
        )))
    }
}

/// What a tool knows about the request it serves.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub request_id: RequestId,
    pub surface: Surface,
    pub caller: Caller,
    pub thread: Option<String>,
    pub language: Language,
}

/// A tool's result: structured data for the model, text for people.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// What the model sees (JSON). Numbers in answers come from here.
    pub data: Value,
    /// A compact human rendering (tables), in the caller's language.
    pub display: String,
}

/// A tool failure. `message` is safe to show to the model and to people;
/// `detail` is for operators (logs, audit) only.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the schema; the model can correct them.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed.
    #[error("{message}")]
    Failed {
        /// Stable short code for audit and metrics (`platform_timeout`, `not_found`…).
        kind: &'static str,
        message: String,
        detail: Option<String>,
    },
}

/// A platform failure as a tool error: its kind is the audited error code.
impl From<crate::platform::PlatformError> for ToolError {
    fn from(e: crate::platform::PlatformError) -> Self {
        ToolError::failed(e.kind.code(), e.message)
    }
}

impl ToolError {
    pub fn failed(kind: &'static str, message: impl Into<String>) -> Self {
        ToolError::Failed {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ToolError::InvalidArguments(_) => "invalid_arguments",
            ToolError::Failed { kind, .. } => kind,
        }
    }
}

/// The object-safe tool interface the registry works with. Implement
/// [`TypedTool`] instead; it provides this.
#[async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// Told to the model: when to use the tool.
    fn description(&self) -> &'static str;
    /// JSON schema of the arguments object.
    fn parameters(&self) -> Value;
    /// Minimum role, unless `rbac.tools` overrides it.
    fn required_role(&self) -> Role;
    /// Mutating tools need a human's approval before they run.
    fn mutating(&self) -> bool;
    /// Fields of its data the model is not sent (see [`compact`]).
    fn model_omits(&self) -> &'static [&'static str] {
        &[]
    }
    /// Check arguments without running anything: the typed args' schema and
    /// the tool's own rules ([`TypedTool::check`]). The registry calls it
    /// before anything else happens to a call (an approval is stored only
    /// for arguments that pass).
    fn validate(&self, args: &Value) -> Result<(), ToolError>;
    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<ToolOutput, ToolError>;
}

/// A tool with typed arguments; the schema is generated from `Args`.
#[async_trait]
pub trait TypedTool: Send + Sync + 'static {
    /// Arguments; use `#[serde(deny_unknown_fields)]` and document every field.
    type Args: DeserializeOwned + JsonSchema + Send;
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    const REQUIRED_ROLE: Role;
    const MUTATING: bool;
    /// Fields of the data no answer needs, left out of the model's copy at
    /// any depth ([`compact::for_model`]); the full data stays with the call.
    const MODEL_OMITS: &'static [&'static str] = &[];
    /// The tool's own rules for its arguments beyond their types (formats,
    /// ranges, counts), checked without IO by [`Tool::validate`] — before an
    /// approval is asked for — and again before every run.
    fn check(&self, _args: &Self::Args) -> Result<(), ToolError> {
        Ok(())
    }
    async fn run(&self, ctx: &ToolContext, args: Self::Args) -> Result<ToolOutput, ToolError>;
}

fn parse_args<A: DeserializeOwned>(args: &Value) -> Result<A, ToolError> {
    // A model may send `null` for "no arguments".
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args.clone()
    };
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// The JSON schema of `A`, inlined (no `$ref`), as function-calling APIs
/// want it, and compact: it is sent with every model call (see
/// [`compact_property`]).
pub fn schema_of<A: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<A>();
    let mut value = serde_json::to_value(schema).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = value.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
        // Unknown fields are refused when the call is validated, with an
        // error the model can act on; saying so up front costs every call.
        map.remove("additionalProperties");
        // "Arguments of `tool`": the function's own description says more.
        map.remove("description");
        map.entry("type").or_insert_with(|| "object".into());
        let properties = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(properties) = properties.as_object_mut() {
            properties.values_mut().for_each(compact_property);
        }
    }
    value
}

/// Drops what schemars derives from Rust types and the model does not need:
/// `null` in an optional field's type and its `"default": null` (optional is
/// already "not in `required`"), `format` (`uint32`, `double`) and the bounds
/// of an unsigned type (`minimum: 0`, `maximum: 255`; the real ranges are in
/// the descriptions), `null` among an optional enum's values. About a fifth
/// of every request's tool schemas.
fn compact_property(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = map.get("type") {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if let [only] = types.as_slice() {
            map.insert("type".into(), only.clone());
        }
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    // An optional enum lists `null` among its values.
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::String(format)) = map.remove("format")
        && let Some(bits) = format.strip_prefix("uint")
    {
        if map.get("minimum").and_then(Value::as_u64) == Some(0) {
            map.remove("minimum");
        }
        let type_max = bits
            .parse::<u32>()
            .ok()
            .filter(|b| *b < 64)
            .map(|b| (1u64 << b) - 1);
        if type_max.is_some() && map.get("maximum").and_then(Value::as_u64) == type_max {
            map.remove("maximum");
        }
    }
    if let Some(items) = map.get_mut("items") {
        compact_property(items);
    }
}

#[async_trait]
impl<T: TypedTool> Tool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }
    fn parameters(&self) -> Value {
        schema_of::<T::Args>()
    }
    fn required_role(&self) -> Role {
        T::REQUIRED_ROLE
    }
    fn mutating(&self) -> bool {
        T::MUTATING
    }
    fn model_omits(&self) -> &'static [&'static str] {
        T::MODEL_OMITS
    }
    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        self.check(&parse_args::<T::Args>(args)?)
    }
    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<ToolOutput, ToolError> {
        let args = parse_args::<T::Args>(&args)?;
        self.check(&args)?;
        self.run(ctx, args).await
    }
}

/// Resolve a strategy reference for a tool, with the error a person (and
/// the model) can act on: unknown name, or which names are ambiguous.
pub fn resolve_strategy_ref<'a>(
    strategies: &'a [Strategy],
    reference: &str,
    lang: Language,
) -> Result<&'a Strategy, ToolError> {
    resolve_strategy(strategies, reference).map_err(|e| match e {
        ResolveError::NotFound => {
            let known: Vec<&str> = strategies
                .iter()
                .filter(|s| s.is_active)
                .map(|s| s.name.as_str())
                .collect();
            ToolError::failed(
                "unknown_strategy",
                crate::i18n::tool_text::unknown_strategy(lang, reference, &known.join(", ")),
            )
        }
        ResolveError::Ambiguous(names) => ToolError::failed(
            "ambiguous_strategy",
            crate::i18n::tool_text::ambiguous_strategy(lang, reference, &names.join(", ")),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Arguments of `example`.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct ExampleArgs {
        /// Required name.
        name: String,
        /// Hours (1-720).
        #[serde(default)]
        since_hours: Option<u32>,
        /// Sections (1-5).
        #[serde(default)]
        limit: Option<u8>,
        /// Cash in USD.
        #[serde(default)]
        cash: Option<f64>,
        /// Tickers.
        symbols: Vec<String>,
    }

    #[test]
    fn schemas_keep_what_the_model_needs_and_drop_type_noise() {
        assert_eq!(
            schema_of::<ExampleArgs>(),
            json!({
                "type": "object",
                "required": ["name", "symbols"],
                "properties": {
                    "name": {"type": "string", "description": "Required name."},
                    "since_hours": {"type": "integer", "description": "Hours (1-720)."},
                    "limit": {"type": "integer", "description": "Sections (1-5)."},
                    "cash": {"type": "number", "description": "Cash in USD."},
                    "symbols": {"type": "array", "items": {"type": "string"}, "description": "Tickers."}
                }
            })
        );
    }
}
