//! `POST /v1/drift-reports`: attribute-level drift found by an agent (`terraform plan
//! -refresh-only` and the like). API-key auth (the key is looked up by its SHA-256), gzip
//! bodies, reports split in parts (reassembled in the table, parts expire after
//! [`PART_TTL_HOURS`]), validation naming the field, secrets scrubbed again here, and the
//! whole report enqueued on the ingest queue with the stack as the message group.
//!
//! Limits (docs/decisions/0400-drift-severity-and-managed-resources.md): a request body of at
//! most [`MAX_BODY_BYTES`] as sent and [`MAX_DECODED_BYTES`] decompressed, at most
//! [`MAX_DRIFTS_PER_PART`] drifts per part and [`MAX_PARTS`] parts; beyond them, 413.

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use dd0c_shared::auth::api_keys;
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::drift::{DriftReport, ReportedDrift};
use dd0c_shared::domain::{IacTool, IngestMessage};
use dd0c_shared::entity::drift_report;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::queue::{OutgoingMessage, Queue};
use dd0c_shared::store::Table;
use dd0c_shared::telemetry::{self, Metric};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::INGEST_QUEUE;

pub const PATH: &str = "/v1/drift-reports";
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const MAX_DECODED_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_DRIFTS_PER_PART: usize = 5_000;
pub const MAX_PARTS: u64 = 100;
pub const PART_TTL_HOURS: i64 = 24;
/// SQS takes 256 KiB per message; a larger report is sent as several (same report id).
const MAX_MESSAGE_BYTES: usize = 200 * 1024;
pub const REDACTED: &str = "[REDACTED]";

pub struct DriftReports {
    table: Arc<dyn Table>,
    queue: Arc<dyn Queue>,
    clock: SharedClock,
}

/// A refusal: status, what is wrong, and the field when it is one.
#[derive(Debug)]
struct Refusal {
    status: u16,
    detail: String,
    field: Option<String>,
}

impl Refusal {
    fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            detail: detail.into(),
            field: Some(field.into()),
        }
    }
    fn status(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
        }
    }
    fn response(&self) -> HttpResponse {
        let title = match self.status {
            400 => "Bad request",
            401 => "Unauthorized",
            404 => "Not found",
            405 => "Method not allowed",
            413 => "Payload too large",
            415 => "Unsupported media type",
            _ => "Service unavailable",
        };
        HttpResponse::problem(self.status, title, &self.detail, self.field.as_deref())
    }
}

/// The body after validation (one part of a report).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPart {
    pub report_id: String,
    pub stack_id: String,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub tool: Option<IacTool>,
    pub part: u64,
    pub parts: u64,
    pub drifts: Vec<ReportedDrift>,
}

/// Decodes the body (gzip when `Content-Encoding: gzip`), bounded by the limits.
pub fn decode_body(encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, (u16, String)> {
    if body.len() > MAX_BODY_BYTES {
        return Err((
            413,
            format!("the body is {} bytes; at most {MAX_BODY_BYTES} are accepted (split the report in parts)", body.len()),
        ));
    }
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_DECODED_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| (400, format!("the gzip body could not be decoded: {e}")))?;
            if out.len() > MAX_DECODED_BYTES {
                return Err((
                    413,
                    format!("the decompressed body exceeds {MAX_DECODED_BYTES} bytes (split the report in parts)"),
                ));
            }
            Ok(out)
        }
        Some(other) => Err((
            415,
            format!("Content-Encoding {other:?} is not supported (use gzip)"),
        )),
    }
}

fn id_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
}

fn parse_tool(s: &str) -> Option<IacTool> {
    Some(match s.to_ascii_lowercase().as_str() {
        "terraform" => IacTool::Terraform,
        "opentofu" | "tofu" => IacTool::OpenTofu,
        "pulumi" => IacTool::Pulumi,
        "cdk" => IacTool::Cdk,
        "cloudformation" => IacTool::CloudFormation,
        _ => return None,
    })
}

/// Validates one part's JSON, naming the field at fault (`drifts[3].attribute`).
pub fn parse_part(bytes: &[u8]) -> Result<ReportPart, (u16, String, Option<String>)> {
    parse(bytes).map_err(|r| (r.status, r.detail, r.field))
}

/// The body as sent, typed: what a field may hold is checked by deserializing it (the error
/// path names the field, `drifts[3].attribute`), what its value must be by [`parse`].
/// Required strings are `Option`s so that a missing one says "is required", not "missing
/// field". Unknown fields are ignored.
#[derive(Deserialize)]
struct PartBody {
    report_id: Option<String>,
    stack_id: Option<String>,
    account_id: Option<String>,
    region: Option<String>,
    tool: Option<String>,
    part: Option<u64>,
    parts: Option<u64>,
    drifts: Option<Vec<Object<DriftBody>>>,
}

#[derive(Deserialize)]
struct DriftBody {
    resource_address: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    attribute: Option<String>,
    /// `Some(Value::Null)` when sent as `null`: present, unlike a missing one.
    #[serde(default, deserialize_with = "present")]
    old: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    new: Option<Value>,
    sensitive: Option<bool>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A JSON object deserialized as `T`, and only an object: a derived struct would also take
/// the array of its fields' values.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(Only(std::marker::PhantomData))
    }
}

/// What a field that failed to deserialize must be, by its path: a value of the wrong type
/// (or out of range) says what it must be; anything else (a key sent twice) says what serde
/// found.
fn type_refusal(path: &serde_path_to_error::Path, error: &serde_json::Error) -> Refusal {
    use serde_path_to_error::Segment;
    let last = path.iter().next_back();
    let field = match last {
        None => "body".to_owned(),
        Some(_) => path.to_string(),
    };
    let message = error.to_string();
    if !(message.starts_with("invalid type") || message.starts_with("invalid value")) {
        return Refusal::bad(field.clone(), format!("{field}: {message}"));
    }
    let detail = match last {
        None => "the body must be a JSON object".to_owned(),
        Some(Segment::Seq { .. }) => format!("{field} must be an object"),
        Some(Segment::Map { key }) => match key.as_str() {
            "drifts" => format!("{field} must be a list"),
            "part" | "parts" => format!("{field} must be a whole number ≥ 1"),
            "sensitive" => format!("{field} must be true or false"),
            _ => format!("{field} must be a string"),
        },
        Some(_) => format!("{field}: {message}"),
    };
    Refusal::bad(field, detail)
}

/// A required string: missing, `null` or blank is "is required".
fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, Refusal> {
    match value {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(Refusal::bad(field, format!("{field} is required"))),
    }
}

fn parse(bytes: &[u8]) -> Result<ReportPart, Refusal> {
    let not_json =
        |e: serde_json::Error| Refusal::bad("body", format!("the body is not JSON: {e}"));
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let Object(body): Object<PartBody> =
        serde_path_to_error::deserialize(&mut de).map_err(|e| match e.inner().classify() {
            Category::Data => type_refusal(e.path(), e.inner()),
            Category::Io | Category::Syntax | Category::Eof => not_json(e.into_inner()),
        })?;
    de.end().map_err(not_json)?;
    let report_id = required(&body.report_id, "report_id")?;
    if !id_like(report_id) {
        return Err(Refusal::bad(
            "report_id",
            "report_id must be 1-128 characters of A-Z a-z 0-9 - _ . : / @",
        ));
    }
    let stack_id = required(&body.stack_id, "stack_id")?;
    if !id_like(stack_id) {
        return Err(Refusal::bad(
            "stack_id",
            "stack_id must be 1-128 characters of A-Z a-z 0-9 - _ . : / @",
        ));
    }
    if let Some(a) = &body.account_id {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(Refusal::bad("account_id", "account_id must be 12 digits"));
        }
    }
    let tool = match &body.tool {
        None => None,
        Some(t) => Some(parse_tool(t).ok_or_else(|| {
            Refusal::bad(
                "tool",
                "tool must be one of terraform, opentofu, pulumi, cdk, cloudformation",
            )
        })?),
    };
    let number = |value: Option<u64>, name: &str| -> Result<u64, Refusal> {
        match value {
            None => Ok(1),
            Some(n) if n >= 1 => Ok(n),
            Some(_) => Err(Refusal::bad(
                name,
                format!("{name} must be a whole number ≥ 1"),
            )),
        }
    };
    let part = number(body.part, "part")?;
    let parts = number(body.parts, "parts")?;
    if parts > MAX_PARTS {
        return Err(Refusal::status(
            413,
            format!("parts is {parts}; at most {MAX_PARTS} parts are accepted"),
        ));
    }
    if part > parts {
        return Err(Refusal::bad(
            "part",
            format!("part {part} of {parts} does not exist"),
        ));
    }
    let drifts = body
        .drifts
        .ok_or_else(|| Refusal::bad("drifts", "drifts is required"))?;
    if drifts.len() > MAX_DRIFTS_PER_PART {
        return Err(Refusal::status(
            413,
            format!(
                "{} drifts in one part; at most {MAX_DRIFTS_PER_PART} (split the report in parts)",
                drifts.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(drifts.len());
    for (i, Object(d)) in drifts.into_iter().enumerate() {
        let f = |name: &str| format!("drifts[{i}].{name}");
        let resource_address = required(&d.resource_address, &f("resource_address"))?;
        let resource_type = required(&d.resource_type, &f("resource_type"))?;
        let attribute = required(&d.attribute, &f("attribute"))?;
        if d.old.is_none() && d.new.is_none() {
            return Err(Refusal::bad(
                f("new"),
                format!("{} or {} is required", f("old"), f("new")),
            ));
        }
        out.push(ReportedDrift {
            resource_address: resource_address.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: d.resource_id,
            attribute: attribute.to_owned(),
            old: d.old.unwrap_or(Value::Null),
            new: d.new.unwrap_or(Value::Null),
            sensitive: d.sensitive.unwrap_or(false),
        });
    }
    Ok(ReportPart {
        report_id: report_id.to_owned(),
        stack_id: stack_id.to_owned(),
        account_id: body.account_id,
        region: body.region,
        tool,
        part,
        parts,
        drifts: out,
    })
}

// ---- scrubbing ------------------------------------------------------------------------

const SECRET_NAMES: [&str; 14] = [
    "password",
    "passwd",
    "secret",
    "token",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "access_key",
    "credential",
    "auth",
    "ssh_key",
    "certificate_body",
    "connection_string",
];

/// Whether an attribute or key name says it holds a secret (`master_password`,
/// `tags.api_token`, `environment.variables.DB_SECRET`). Names of identifiers (`*_arn`,
/// `*_id`, `*_name`) pass: `kms_key_id`, `secret_arn` name secrets, they are not secrets.
pub fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    SECRET_NAMES.iter().any(|s| {
        if *s == "auth" {
            words.iter().any(|w| *w == "auth" || *w == "authorization")
        } else {
            lower.contains(s)
        }
    }) && !lower.ends_with("_arn")
        && !lower.ends_with("_id")
        && !lower.ends_with("_name")
}

/// Whether a value looks like a credential whatever its name: AWS access keys, PEM keys,
/// GitHub/Slack/Stripe tokens, JWTs, and long high-entropy strings.
pub fn secret_value(s: &str) -> bool {
    let t = s.trim();
    let prefixed = ["AKIA", "ASIA"].iter().any(|p| {
        t.len() == 20
            && t.starts_with(p)
            && t.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    let known = [
        "-----BEGIN",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "sk_live_",
        "rk_live_",
        "sk_test_",
        "glpat-",
        "AIza",
    ]
    .iter()
    .any(|p| t.contains(p));
    let jwt = t.starts_with("eyJ") && t.matches('.').count() == 2 && t.len() > 30;
    known || prefixed || jwt || high_entropy(t)
}

/// 32+ characters without spaces, of letters and digits mixed (base64/hex), no path or URL.
fn high_entropy(t: &str) -> bool {
    if t.len() < 32 || t.contains(' ') || t.contains("://") || t.starts_with("arn:") {
        return false;
    }
    let allowed = t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
    let upper = t.chars().filter(char::is_ascii_uppercase).count();
    let lower = t.chars().filter(char::is_ascii_lowercase).count();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let distinct = t.chars().collect::<std::collections::BTreeSet<_>>().len();
    // UUIDs and hex digests of resources are identifiers, not secrets.
    let hexish = t.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    allowed && !hexish && upper > 0 && lower > 0 && digits > 0 && distinct >= 16
}

/// Every leaf replaced, the shape (objects, lists, nulls) kept.
pub fn redact_all(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), redact_all(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(redact_all).collect()),
        _ => Value::String(REDACTED.into()),
    }
}

/// Secret-named keys and secret-looking strings replaced, the rest kept.
pub fn scrub_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if secret_name(k) {
                        redact_all(v)
                    } else {
                        scrub_value(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(scrub_value).collect()),
        Value::String(s) if secret_value(s) => Value::String(REDACTED.into()),
        other => other.clone(),
    }
}

pub fn scrub(drift: &mut ReportedDrift) {
    if drift.sensitive || secret_name(&drift.attribute) {
        drift.old = redact_all(&drift.old);
        drift.new = redact_all(&drift.new);
    } else {
        drift.old = scrub_value(&drift.old);
        drift.new = scrub_value(&drift.new);
    }
}

// ---- the handler -------------------------------------------------------------------------

impl DriftReports {
    pub fn new(table: Arc<dyn Table>, queue: Arc<dyn Queue>, clock: SharedClock) -> Self {
        Self {
            table,
            queue,
            clock,
        }
    }

    async fn tenant(&self, request: &HttpRequest) -> Result<String, Refusal> {
        let presented = request
            .header("authorization")
            .or_else(|| request.header("x-api-key"))
            .ok_or_else(|| {
                Refusal::status(401, "an API key is required (Authorization: Bearer dd0c_…)")
            })?;
        match api_keys::authenticate(self.table.as_ref(), presented).await {
            Ok(Some((tenant, _key_id))) => Ok(tenant),
            Ok(None) => Err(Refusal::status(401, "the API key is not valid")),
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                Err(Refusal::status(
                    503,
                    "the key could not be checked; try again",
                ))
            }
        }
    }

    async fn accept(&self, request: HttpRequest) -> Result<HttpResponse, Refusal> {
        if request.path != PATH {
            return Err(Refusal::status(404, format!("no route {}", request.path)));
        }
        if request.method != "POST" {
            return Err(Refusal::status(405, "use POST"));
        }
        let tenant = self.tenant(&request).await?;
        let bytes = decode_body(request.header("content-encoding"), &request.body).map_err(
            |(status, detail)| Refusal {
                status,
                detail,
                field: (status == 400).then(|| "body".to_owned()),
            },
        )?;
        let mut part = parse(&bytes)?;
        part.drifts.iter_mut().for_each(scrub);
        let unavailable = |e: dd0c_shared::store::StoreError| {
            tracing::error!(error = %e, "drift report store failed");
            Refusal::status(503, "the report could not be stored; try again")
        };
        let mut stored_keys = Vec::new();
        let (drifts, received) = if part.parts == 1 {
            (std::mem::take(&mut part.drifts), 1)
        } else {
            let ttl = (self.clock.now() + Duration::hours(PART_TTL_HOURS)).timestamp();
            let text = serde_json::to_string(&part_json(&part))
                .map_err(|e| Refusal::status(503, e.to_string()))?;
            drift_report::put_report_part(
                self.table.as_ref(),
                &tenant,
                &part.report_id,
                part.part as u32,
                part.parts as u32,
                &text,
                ttl,
            )
            .await
            .map_err(unavailable)?;
            let stored = drift_report::report_parts(self.table.as_ref(), &tenant, &part.report_id)
                .await
                .map_err(unavailable)?;
            let received = stored.parts.len() as u64;
            if received < part.parts {
                return Ok(HttpResponse::json(
                    202,
                    &json!({"report_id": part.report_id, "part": part.part, "parts": part.parts,
                            "parts_received": received, "complete": false}),
                ));
            }
            let mut all = Vec::new();
            for (_, text) in &stored.parts {
                let stored_part: StoredPart =
                    serde_json::from_str(text).map_err(|e| Refusal::status(503, e.to_string()))?;
                all.extend(stored_part.drifts);
            }
            stored_keys = stored.keys;
            (all, received)
        };
        let report = DriftReport {
            tenant_id: tenant.clone(),
            report_id: part.report_id.clone(),
            stack_id: part.stack_id.clone(),
            account_id: part.account_id.clone(),
            region: part.region.clone(),
            tool: part.tool,
            received_at: self.clock.now(),
            drifts,
        };
        let messages = self.enqueue(&report).await?;
        if part.parts > 1 {
            drift_report::delete_report_parts(self.table.as_ref(), &stored_keys)
                .await
                .map_err(unavailable)?;
        }
        telemetry::metric(Metric::DriftReports, 1.0);
        Ok(HttpResponse::json(
            202,
            &json!({"report_id": report.report_id, "parts": part.parts, "parts_received": received,
                    "complete": true, "drifts": report.drifts.len(), "messages": messages}),
        ))
    }

    /// One message per ≤200 KiB slice of the report, the stack as message group.
    async fn enqueue(&self, report: &DriftReport) -> Result<usize, Refusal> {
        let digest = hex::encode(Sha256::digest(
            format!("{}\n{}", report.tenant_id, report.report_id).as_bytes(),
        ));
        let group = format!(
            "stack-{}",
            hex::encode(&Sha256::digest(report.stack_id.as_bytes())[..8])
        );
        let group = if report.stack_id.len() <= 100 && report.stack_id.is_ascii() {
            format!("stack-{}", report.stack_id)
        } else {
            group
        };
        // Each slice is the report's header with some of its drifts: the header is copied,
        // never the whole report.
        let header = || DriftReport {
            tenant_id: report.tenant_id.clone(),
            report_id: report.report_id.clone(),
            stack_id: report.stack_id.clone(),
            account_id: report.account_id.clone(),
            region: report.region.clone(),
            tool: report.tool,
            received_at: report.received_at,
            drifts: Vec::new(),
        };
        let mut slices: Vec<DriftReport> = Vec::new();
        let mut current = header();
        let mut size = 0usize;
        for d in &report.drifts {
            let n = serde_json::to_string(d).map(|s| s.len()).unwrap_or(0);
            if !current.drifts.is_empty() && size + n > MAX_MESSAGE_BYTES {
                slices.push(std::mem::replace(&mut current, header()));
                size = 0;
            }
            size += n;
            current.drifts.push(d.clone());
        }
        slices.push(current);
        for (i, slice) in slices.iter().enumerate() {
            let body =
                serde_json::to_string(slice).map_err(|e| Refusal::status(503, e.to_string()))?;
            if body.len() > 250 * 1024 {
                return Err(Refusal::status(
                    413,
                    "one drift is larger than a queue message (250 KiB)",
                ));
            }
            self.queue
                .send(
                    INGEST_QUEUE,
                    OutgoingMessage::new(
                        IngestMessage::drift_report_body(&body),
                        group.clone(),
                        format!("report-{}-{i}", &digest[..40]),
                    ),
                )
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "enqueue failed");
                    Refusal::status(503, "the report could not be queued; try again")
                })?;
        }
        Ok(slices.len())
    }
}

fn part_json(part: &ReportPart) -> Value {
    json!({"part": part.part, "parts": part.parts, "drifts": part.drifts})
}

/// A part as [`part_json`] stored it (already validated and scrubbed).
#[derive(Deserialize)]
struct StoredPart {
    drifts: Vec<ReportedDrift>,
}

#[async_trait]
impl HttpHandler for DriftReports {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        match self.accept(request).await {
            Ok(r) => r,
            Err(refusal) => refusal.response(),
        }
    }
}
