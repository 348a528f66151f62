//! Envelope encryption for secrets at rest (Slack bot tokens): each secret is sealed with a
//! fresh 256-bit data key (AES-256-GCM, bound to a context such as the tenant id), and only
//! the data key wrapped by a [`KeyProvider`] is stored next to it. Production wraps with KMS;
//! the embedded mode with a local key.

#[cfg(feature = "aws")]
pub mod kms;

/// The environment variable naming the KMS key that wraps Slack token data keys (id, ARN or
/// alias).
pub const TOKEN_KMS_KEY_ENV: &str = "SLACK_TOKEN_KMS_KEY_ID";

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("key provider failed: {0}")]
    Provider(String),
    #[error("the sealed value could not be opened (wrong key, context or tampered data)")]
    Open,
    #[error("invalid key material: {0}")]
    Key(String),
}

/// A data key: the plain key (used once, then dropped) and its wrapped form (stored).
pub struct DataKey {
    pub plaintext: Vec<u8>,
    pub wrapped: Vec<u8>,
    pub key_id: String,
}

/// The port over whatever protects data keys (KMS `GenerateDataKey`/`Decrypt`, or a local key).
#[async_trait]
pub trait KeyProvider: Send + Sync {
    async fn generate_data_key(&self) -> Result<DataKey, CryptoError>;
    async fn unwrap_key(&self, key_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

/// What is stored: never the plain secret nor the plain data key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// Base64 of the wrapped data key.
    pub wrapped_key: String,
    /// Base64 of nonce || ciphertext || tag.
    pub ciphertext: String,
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::Key(format!("AES-256 keys are 32 bytes, got {}", key.len())))
}

fn aes_seal(key: &[u8], plaintext: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
    let key = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context.as_bytes()),
        &mut in_out,
    )
    .map_err(|_| CryptoError::Open)?;
    let mut out = nonce.to_vec();
    out.extend(in_out);
    Ok(out)
}

fn aes_open(key: &[u8], sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN {
        return Err(CryptoError::Open);
    }
    let key = aead_key(key)?;
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut in_out = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
        .map_err(|_| CryptoError::Open)?;
    Ok(plain.to_vec())
}

/// Seals `plaintext` under a fresh data key; `context` (e.g. the tenant id) must be given
/// again to open it, so a sealed value copied to another tenant does not open.
pub async fn seal(
    keys: &dyn KeyProvider,
    plaintext: &[u8],
    context: &str,
) -> Result<Sealed, CryptoError> {
    let data_key = keys.generate_data_key().await?;
    let ciphertext = aes_seal(&data_key.plaintext, plaintext, context)?;
    Ok(Sealed {
        key_id: data_key.key_id,
        wrapped_key: B64.encode(&data_key.wrapped),
        ciphertext: B64.encode(ciphertext),
    })
}

pub async fn open(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    context: &str,
) -> Result<Vec<u8>, CryptoError> {
    let wrapped = B64
        .decode(&sealed.wrapped_key)
        .map_err(|_| CryptoError::Open)?;
    let ciphertext = B64
        .decode(&sealed.ciphertext)
        .map_err(|_| CryptoError::Open)?;
    let key = keys.unwrap_key(&sealed.key_id, &wrapped).await?;
    aes_open(&key, &ciphertext, context)
}

/// The embedded mode's provider: data keys wrapped by a local 256-bit master key.
pub struct LocalKeyProvider {
    master: Vec<u8>,
    key_id: String,
}

/// Names a 64-hex-character master key for the embedded mode.
pub const LOCAL_KEY_ENV: &str = "DD0C_LOCAL_KEY";

impl std::fmt::Debug for LocalKeyProvider {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyProvider")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl LocalKeyProvider {
    pub fn new(master: [u8; 32], key_id: impl Into<String>) -> Self {
        Self {
            master: master.to_vec(),
            key_id: key_id.into(),
        }
    }

    /// From 64 hex characters.
    pub fn from_hex(hex_key: &str, key_id: impl Into<String>) -> Result<Self, CryptoError> {
        let bytes = hex::decode(hex_key.trim())
            .map_err(|e| CryptoError::Key(format!("{LOCAL_KEY_ENV}: {e}")))?;
        let master: [u8; 32] = bytes.try_into().map_err(|_| {
            CryptoError::Key(format!(
                "{LOCAL_KEY_ENV} must be 64 hex characters (32 bytes)"
            ))
        })?;
        Ok(Self::new(master, key_id))
    }

    /// A key that lives as long as the process (an in-memory `dd0c serve`).
    pub fn ephemeral() -> Self {
        let mut master = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut master);
        Self::new(master, "local-ephemeral")
    }
}

#[async_trait]
impl KeyProvider for LocalKeyProvider {
    async fn generate_data_key(&self) -> Result<DataKey, CryptoError> {
        let mut plaintext = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut plaintext);
        let wrapped = aes_seal(&self.master, &plaintext, &self.key_id)?;
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id: self.key_id.clone(),
        })
    }

    async fn unwrap_key(&self, key_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if key_id != self.key_id {
            return Err(CryptoError::Provider(format!("unknown key id {key_id:?}")));
        }
        aes_open(&self.master, wrapped, key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seals_and_opens_with_the_same_context_only() {
        let keys = LocalKeyProvider::from_hex(&"ab".repeat(32), "k1").unwrap();
        let sealed = seal(&keys, b"xoxb-secret-token", "tenant-1").await.unwrap();
        assert!(!sealed.ciphertext.contains("xoxb"));
        assert_eq!(
            open(&keys, &sealed, "tenant-1").await.unwrap(),
            b"xoxb-secret-token"
        );
        assert_eq!(
            open(&keys, &sealed, "tenant-2").await,
            Err(CryptoError::Open)
        );
        let mut tampered = sealed.clone();
        let mut bytes = B64.decode(&tampered.ciphertext).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        tampered.ciphertext = B64.encode(bytes);
        assert_eq!(
            open(&keys, &tampered, "tenant-1").await,
            Err(CryptoError::Open)
        );
        let other = LocalKeyProvider::from_hex(&"cd".repeat(32), "k1").unwrap();
        assert_eq!(
            open(&other, &sealed, "tenant-1").await,
            Err(CryptoError::Open)
        );
        // Two seals of one secret differ (fresh data key and nonce).
        assert_ne!(
            seal(&keys, b"x", "t").await.unwrap(),
            seal(&keys, b"x", "t").await.unwrap()
        );
    }

    #[test]
    fn bad_local_keys_are_named() {
        assert!(LocalKeyProvider::from_hex("abcd", "k")
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        assert!(LocalKeyProvider::from_hex("zz", "k")
            .unwrap_err()
            .to_string()
            .contains(LOCAL_KEY_ENV));
    }
}
