//! `dd0c stacks import`: the resources a Terraform/OpenTofu state file (format v4) lists become
//! managed by a stack (`POST /v1/stacks/{id}/resources`), so that a console change to one of
//! them is drift from its first CloudTrail event (docs/decisions/0410-state-ownership-import.md).
//!
//! Only each resource's type, address and id leave the machine. The state's attribute values
//! hold secrets (passwords, private keys, tokens): the types below declare no field that could
//! hold one, so serde skips them while parsing, without building them.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use dd0c_api::model::{
    ImportedResource, StackResourcesImport, StackResourcesImported, MAX_IMPORTED_RESOURCES,
};
use dd0c_shared::domain::drift::iac_identity_attribute;
use dd0c_shared::entity::stack;
use serde::Deserialize;

/// How long one request of an import may take: API Gateway answers within 29 seconds.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(35);

/// Where `--api` points when neither it nor `DD0C_API_URL` is given: `dd0c serve`.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8787";
pub const API_URL_VARIABLE: &str = "DD0C_API_URL";
pub const API_KEY_VARIABLE: &str = "DD0C_API_KEY";

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{0} is not a Terraform state file: {1}")]
    NotState(String, String),
    #[error(
        "{source_name} is a state of format version {version}; dd0c reads version 4 (Terraform 0.12 and later, OpenTofu): run `terraform state pull` with a current Terraform"
    )]
    Version { source_name: String, version: u64 },
}

/// Why an import failed; [`ImportError::exit_code`] is the command's exit status.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    State(#[from] StateError),
    /// A problem on this side: no API key, no usable stack name.
    #[error("{0}")]
    Usage(String),
    #[error("the API refused the import ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("cannot reach the API at {url}: {error}")]
    Unreachable { url: String, error: String },
}

impl ImportError {
    /// 2 when the state or the command line cannot be used, 1 when the API did not take it.
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::State(_) | ImportError::Usage(_) => 2,
            ImportError::Refused { .. } | ImportError::Unreachable { .. } => 1,
        }
    }
}

/// The state file: a path, or `-` for stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSource {
    Stdin,
    File(PathBuf),
}

impl StateSource {
    pub fn from_arg(arg: &Path) -> Self {
        if arg == Path::new("-") {
            StateSource::Stdin
        } else {
            StateSource::File(arg.to_owned())
        }
    }

    /// The stack name a file suggests when the state has no lineage: `prod` for
    /// `prod.tfstate`.
    fn stem(&self) -> Option<String> {
        match self {
            StateSource::Stdin => None,
            StateSource::File(path) => path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }

    fn read(&self) -> Result<Vec<u8>, StateError> {
        let mut bytes = Vec::new();
        let read = match self {
            StateSource::Stdin => std::io::stdin().lock().read_to_end(&mut bytes).map(|_| ()),
            StateSource::File(path) => std::fs::read(path).map(|b| bytes = b),
        };
        read.map_err(|error| StateError::Read {
            source_name: self.to_string(),
            error,
        })?;
        Ok(bytes)
    }
}

impl fmt::Display for StateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateSource::Stdin => f.write_str("stdin"),
            StateSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Deserialize)]
struct FormatVersion {
    version: Option<u64>,
}

/// The parts of a v4 state dd0c reads. `outputs` and every other top-level field are skipped.
#[derive(Deserialize)]
struct StateV4 {
    #[serde(default)]
    lineage: Option<String>,
    #[serde(default)]
    resources: Vec<StateResource>,
}

#[derive(Deserialize)]
struct StateResource {
    /// `module.a.module.b["x"]`, absent at the root.
    #[serde(default)]
    module: Option<String>,
    mode: String,
    #[serde(rename = "type")]
    resource_type: String,
    name: String,
    #[serde(default)]
    instances: Vec<StateInstance>,
}

#[derive(Deserialize)]
struct StateInstance {
    #[serde(default)]
    index_key: Option<IndexKey>,
    /// A deposed object is an old instance `create_before_destroy` is about to destroy.
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Identity>,
    /// States upgraded from Terraform 0.11 may keep flat attributes instead.
    #[serde(default)]
    attributes_flat: Option<Identity>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
enum IndexKey {
    Number(i64),
    String(String),
}

/// The only attributes read: the id, and `identifier` for the types whose `id` is not the
/// name AWS calls them by ([`iac_identity_attribute`]). Both are names, never secrets.
#[derive(Deserialize)]
struct Identity {
    #[serde(default)]
    id: Option<Name>,
    #[serde(default)]
    identifier: Option<Name>,
}

/// A string attribute; any other JSON value (a provider's odd `identifier` object) reads as
/// absent rather than failing the state.
#[derive(Deserialize)]
#[serde(untagged)]
enum Name {
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl Name {
    fn text(&self) -> Option<&str> {
        match self {
            Name::Text(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
}

impl Identity {
    fn of(&self, iac_type: &str) -> Option<&str> {
        let name = match iac_identity_attribute(iac_type) {
            "identifier" => self.identifier.as_ref(),
            _ => self.id.as_ref(),
        };
        name.and_then(Name::text)
    }
}

/// What a state file lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedState {
    pub lineage: Option<String>,
    /// The managed resource instances with an id, in state order.
    pub resources: Vec<ImportedResource>,
    /// Managed instances without an id (never created, or a provider that stores none).
    pub without_id: usize,
}

/// The address Terraform prints for a resource instance: `module.a.aws_instance.web[0]`,
/// `aws_s3_bucket.b["logs"]`.
fn address(
    module: Option<&str>,
    resource_type: &str,
    name: &str,
    key: Option<&IndexKey>,
) -> String {
    let mut out = String::new();
    if let Some(module) = module.filter(|m| !m.is_empty()) {
        out.push_str(module);
        out.push('.');
    }
    out.push_str(resource_type);
    out.push('.');
    out.push_str(name);
    match key {
        None => {}
        Some(IndexKey::Number(n)) => out.push_str(&format!("[{n}]")),
        // Terraform quotes a string key as HCL does, whose escapes for `"` and `\` are JSON's.
        Some(IndexKey::String(s)) => {
            out.push('[');
            out.push_str(&serde_json::Value::String(s.clone()).to_string());
            out.push(']');
        }
    }
    out
}

/// Reads a state file of format v4: every current instance of a managed resource (data
/// sources are read, not managed; deposed objects are on their way out).
pub fn parse_state(source_name: &str, bytes: &[u8]) -> Result<ParsedState, StateError> {
    let not_state = |e: serde_json::Error| StateError::NotState(source_name.into(), e.to_string());
    let version: FormatVersion = serde_json::from_slice(bytes).map_err(not_state)?;
    match version.version {
        Some(4) => {}
        Some(version) => {
            return Err(StateError::Version {
                source_name: source_name.into(),
                version,
            })
        }
        None => {
            return Err(StateError::NotState(
                source_name.into(),
                "it has no \"version\"".into(),
            ))
        }
    }
    let state: StateV4 = serde_json::from_slice(bytes).map_err(not_state)?;
    let mut resources = Vec::new();
    let mut without_id = 0;
    for r in state.resources.iter().filter(|r| r.mode == "managed") {
        for instance in r.instances.iter().filter(|i| i.deposed.is_none()) {
            let id = instance
                .attributes
                .as_ref()
                .or(instance.attributes_flat.as_ref())
                .and_then(|a| a.of(&r.resource_type));
            let Some(id) = id else {
                without_id += 1;
                continue;
            };
            resources.push(ImportedResource {
                resource_type: r.resource_type.clone(),
                address: address(
                    r.module.as_deref(),
                    &r.resource_type,
                    &r.name,
                    instance.index_key.as_ref(),
                ),
                id: id.to_owned(),
            });
        }
    }
    Ok(ParsedState {
        lineage: state.lineage.filter(|l| !l.is_empty()),
        resources,
        without_id,
    })
}

/// `dd0c stacks import`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    pub state: StateSource,
    pub stack: Option<String>,
    pub api: String,
    pub api_key: Option<String>,
    pub dry_run: bool,
}

/// The stack: `--stack`, else the state's lineage (a UUID Terraform gives a state at its
/// creation and keeps through every apply and `state push`), else the file's stem.
fn stack_of(options: &ImportOptions, state: &ParsedState) -> Result<String, ImportError> {
    let stack = options
        .stack
        .clone()
        .or_else(|| state.lineage.clone())
        .or_else(|| options.state.stem())
        .ok_or_else(|| {
            ImportError::Usage(format!(
                "the state from {} has no lineage: name its stack with --stack NAME",
                options.state
            ))
        })?;
    if !stack::valid_id(&stack) {
        return Err(ImportError::Usage(format!(
            "{stack:?} cannot be a stack name: use 1-64 letters, digits, '-', '_', ':' or '.' (--stack NAME)"
        )));
    }
    Ok(stack)
}

/// The requests an import sends, in order: one per [`MAX_IMPORTED_RESOURCES`] resources.
pub fn payloads(resources: &[ImportedResource]) -> Vec<StackResourcesImport> {
    resources
        .chunks(MAX_IMPORTED_RESOURCES)
        .map(|chunk| StackResourcesImport {
            source: "terraform".into(),
            resources: chunk.to_vec(),
        })
        .collect()
}

/// Reads the state and sends it (or, with `--dry-run`, writes the payloads to `out`, one JSON
/// document per line). Returns what the API did, summed over the requests.
pub async fn run(
    options: &ImportOptions,
    out: &mut dyn std::io::Write,
) -> Result<Option<StackResourcesImported>, ImportError> {
    let bytes = options.state.read()?;
    let state = parse_state(&options.state.to_string(), &bytes)?;
    drop(bytes);
    let stack = stack_of(options, &state)?;
    if state.without_id > 0 {
        tracing::warn!(
            instances = state.without_id,
            "managed instances without an id are left out"
        );
    }
    if state.resources.is_empty() {
        return Err(ImportError::Usage(format!(
            "{} lists no managed resource with an id: nothing to import",
            options.state
        )));
    }
    let payloads = payloads(&state.resources);
    if options.dry_run {
        for payload in &payloads {
            let line =
                serde_json::to_string(payload).map_err(|e| ImportError::Usage(e.to_string()))?;
            writeln!(out, "{line}").map_err(|e| ImportError::Usage(e.to_string()))?;
        }
        return Ok(None);
    }
    let key = options
        .api_key
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ImportError::Usage(format!(
                "set {API_KEY_VARIABLE} to an API key (POST /v1/api-keys), or use --dry-run"
            ))
        })?;
    let url = format!(
        "{}/v1/stacks/{stack}/resources",
        options.api.trim_end_matches('/')
    );
    let client = dd0c_shared::http::client(REQUEST_TIMEOUT);
    let mut total = StackResourcesImported {
        stack_id: stack.clone(),
        managed: 0,
        already_managed: 0,
        untracked: 0,
    };
    for payload in &payloads {
        let unreachable = |e: reqwest::Error| ImportError::Unreachable {
            url: url.clone(),
            error: e.to_string(),
        };
        let response = client
            .post(&url)
            .bearer_auth(&key)
            .json(payload)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(ImportError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        let done: StackResourcesImported =
            serde_json::from_str(&body).map_err(|e| ImportError::Refused {
                status: status.as_u16(),
                body: format!("an answer that is not an import result ({e}): {body}"),
            })?;
        total.managed += done.managed;
        total.already_managed += done.already_managed;
        total.untracked += done.untracked;
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_printed_as_terraform_prints_them() {
        assert_eq!(
            address(None, "aws_instance", "web", None),
            "aws_instance.web"
        );
        assert_eq!(
            address(
                Some("module.net.module.sg[\"a\"]"),
                "aws_security_group",
                "this",
                Some(&IndexKey::Number(0))
            ),
            "module.net.module.sg[\"a\"].aws_security_group.this[0]"
        );
        assert_eq!(
            address(
                None,
                "aws_s3_bucket",
                "b",
                Some(&IndexKey::String("we\"ird\\key".into()))
            ),
            r#"aws_s3_bucket.b["we\"ird\\key"]"#
        );
    }

    #[test]
    fn the_stack_is_the_flag_else_the_lineage_else_the_file_stem() {
        let parsed = |lineage: Option<&str>| ParsedState {
            lineage: lineage.map(str::to_owned),
            resources: Vec::new(),
            without_id: 0,
        };
        let options = |stack: Option<&str>, state: StateSource| ImportOptions {
            state,
            stack: stack.map(str::to_owned),
            api: DEFAULT_API_URL.into(),
            api_key: None,
            dry_run: true,
        };
        let file = StateSource::File("envs/prod.tfstate".into());
        assert_eq!(
            stack_of(&options(Some("net"), file.clone()), &parsed(Some("l-1"))).unwrap(),
            "net"
        );
        assert_eq!(
            stack_of(&options(None, file.clone()), &parsed(Some("l-1"))).unwrap(),
            "l-1"
        );
        assert_eq!(
            stack_of(&options(None, file), &parsed(None)).unwrap(),
            "prod"
        );
        let stdin = stack_of(&options(None, StateSource::Stdin), &parsed(None)).unwrap_err();
        assert!(stdin.to_string().contains("--stack"), "{stdin}");
        assert_eq!(stdin.exit_code(), 2);
        let bad = stack_of(&options(Some("a/b"), StateSource::Stdin), &parsed(None)).unwrap_err();
        assert_eq!(bad.exit_code(), 2);
    }

    #[test]
    fn a_large_state_is_sent_in_bounded_requests() {
        let r = ImportedResource {
            resource_type: "aws_instance".into(),
            address: "aws_instance.x".into(),
            id: "i-1".into(),
        };
        let sizes: Vec<usize> = payloads(&vec![r; MAX_IMPORTED_RESOURCES * 2 + 1])
            .iter()
            .map(|p| p.resources.len())
            .collect();
        assert_eq!(sizes, [MAX_IMPORTED_RESOURCES, MAX_IMPORTED_RESOURCES, 1]);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/terraform")
            .join(name);
        std::fs::read(path).unwrap()
    }

    fn listed(state: &ParsedState) -> Vec<(&str, &str, &str)> {
        state
            .resources
            .iter()
            .map(|r| (r.resource_type.as_str(), r.address.as_str(), r.id.as_str()))
            .collect()
    }

    #[test]
    fn a_state_lists_its_managed_instances_by_type_address_and_id() {
        let state = parse_state("aws-modules.tfstate", &fixture("aws-modules.tfstate")).unwrap();
        assert_eq!(
            state.lineage.as_deref(),
            Some("3f2a8c1e-0b7d-4c55-9a61-2d4e8f0c1b23")
        );
        // Data sources are skipped, and so are the deposed instance and `count = 0`.
        assert_eq!(
            listed(&state),
            [
                (
                    "aws_security_group",
                    "aws_security_group.web",
                    "sg-0a1b2c3d4e5f60001"
                ),
                ("aws_vpc", "aws_vpc.main", "vpc-0f00dfeedbeef0001"),
                // AWS provider 5: the identifier, not the DBI resource id in `id`.
                ("aws_db_instance", "aws_db_instance.orders", "orders-prod"),
                ("random_password", "random_password.db", "none"),
                (
                    "tls_private_key",
                    "tls_private_key.deploy",
                    "9c1f6a1d2b3e4f50617283940a1b2c3d4e5f6071"
                ),
                ("aws_iam_role", "aws_iam_role.deployer", "deployer"),
                (
                    "aws_instance",
                    "module.app.aws_instance.web[0]",
                    "i-0aaa0000000000001"
                ),
                (
                    "aws_instance",
                    "module.app.aws_instance.web[1]",
                    "i-0aaa0000000000002"
                ),
                (
                    "aws_s3_bucket",
                    r#"module.app.module.storage.aws_s3_bucket.this["access"]"#,
                    "acme-access-logs"
                ),
                (
                    "aws_s3_bucket",
                    r#"module.app.module.storage.aws_s3_bucket.this["audit"]"#,
                    "acme-audit-logs"
                ),
                (
                    "aws_security_group_rule",
                    r#"module.net["eu"].aws_security_group_rule.ssh"#,
                    "sgrule-1234567890"
                ),
            ]
        );
        assert_eq!(state.without_id, 0);
    }

    #[test]
    fn flat_attributes_of_upgraded_states_are_read_and_an_empty_lineage_is_none() {
        let state = parse_state("legacy-flat.tfstate", &fixture("legacy-flat.tfstate")).unwrap();
        assert_eq!(state.lineage, None);
        assert_eq!(
            listed(&state),
            [
                (
                    "aws_kms_key",
                    "aws_kms_key.data",
                    "1234abcd-12ab-34cd-56ef-1234567890ab"
                ),
                (
                    "aws_lambda_function",
                    "aws_lambda_function.worker",
                    "worker"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn the_dry_run_payload_holds_no_attribute_value() {
        for name in ["aws-modules.tfstate", "legacy-flat.tfstate"] {
            let options = ImportOptions {
                state: StateSource::File(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/terraform")
                        .join(name),
                ),
                stack: None,
                api: DEFAULT_API_URL.into(),
                api_key: None,
                dry_run: true,
            };
            let mut out = Vec::new();
            assert_eq!(run(&options, &mut out).await.unwrap(), None);
            let text = String::from_utf8(out).unwrap();
            // Every secret in the fixtures says so; none may leave the machine.
            assert!(!text.contains("S3cret"), "{name}: {text}");
            let payload: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
            assert_eq!(payload["source"], "terraform");
            for r in payload["resources"].as_array().unwrap() {
                let mut keys: Vec<&str> =
                    r.as_object().unwrap().keys().map(String::as_str).collect();
                keys.sort_unstable();
                assert_eq!(keys, ["address", "id", "type"], "{name}: {r}");
            }
        }
    }

    #[test]
    fn other_format_versions_and_other_json_are_refused() {
        for (text, says) in [
            (r#"{"version": 3, "modules": []}"#, "format version 3"),
            (r#"{"version": 5}"#, "format version 5"),
            (r#"{"resources": []}"#, "no \"version\""),
            ("not json", "not a Terraform state"),
            (
                r#"{"version": 4, "resources": {}}"#,
                "not a Terraform state",
            ),
        ] {
            let e = parse_state("s.tfstate", text.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
