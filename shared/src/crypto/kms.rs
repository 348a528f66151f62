//! The production [`KeyProvider`]: AWS KMS `GenerateDataKey` (AES-256) wraps each data key
//! under the customer-managed key named by `SLACK_TOKEN_KMS_KEY_ID`; `Decrypt` unwraps it.
//! The plain data key never leaves the process and is dropped after one use.

use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::{CryptoError, DataKey, KeyProvider};

pub struct KmsKeyProvider {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeyProvider {
    pub fn new(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_kms::Client::new(sdk),
            key_id: key_id.into(),
        }
    }
}

fn provider_error<E>(action: &str, err: aws_sdk_kms::error::SdkError<E>) -> CryptoError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or_default()),
        None => DisplayErrorContext(&err).to_string(),
    };
    CryptoError::Provider(format!("kms:{action}: {detail}"))
}

#[async_trait]
impl KeyProvider for KmsKeyProvider {
    async fn generate_data_key(&self) -> Result<DataKey, CryptoError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .map_err(|e| provider_error("GenerateDataKey", e))?;
        let (Some(plaintext), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(CryptoError::Provider(
                "kms:GenerateDataKey returned no key".into(),
            ));
        };
        Ok(DataKey {
            plaintext: plaintext.as_ref().to_vec(),
            wrapped: wrapped.as_ref().to_vec(),
            // The key's ARN: Decrypt is then pinned to the key that wrapped it, even when
            // the configured id is an alias that later points elsewhere.
            key_id: out.key_id().unwrap_or(&self.key_id).to_owned(),
        })
    }

    async fn unwrap_key(&self, key_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .send()
            .await
            .map_err(|e| provider_error("Decrypt", e))?;
        out.plaintext()
            .map(|p| p.as_ref().to_vec())
            .ok_or_else(|| CryptoError::Provider("kms:Decrypt returned no plaintext".into()))
    }
}
