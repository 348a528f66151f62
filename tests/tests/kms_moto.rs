//! Slack bot tokens sealed with the production key provider: KMS `GenerateDataKey` and
//! `Decrypt` through the real SDK against moto.

use dd0c_shared::crypto::kms::KmsKeyProvider;
use dd0c_shared::crypto::{open, seal, CryptoError, Sealed};
use dd0c_tests::moto::MotoServer;

#[tokio::test]
async fn kms_envelope_seals_and_opens_slack_tokens() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .description("dd0c slack tokens")
        .send()
        .await
        .expect("create key");
    let key_id = key.key_metadata().expect("metadata").key_id().to_owned();
    let keys = KmsKeyProvider::new(&sdk, &key_id);

    let token = b"xoxb-1111-2222-abcdefabcdef";
    let sealed = seal(&keys, token, "tenant-a").await.expect("seal");
    // What is stored names the KMS key and holds neither the token nor a plain data key.
    assert!(sealed.key_id.contains(&key_id), "{}", sealed.key_id);
    let stored = serde_json::to_string(&sealed).unwrap();
    assert!(!stored.contains("xoxb"), "{stored}");

    assert_eq!(open(&keys, &sealed, "tenant-a").await.expect("open"), token);
    // Copied to another tenant, it does not open.
    assert_eq!(
        open(&keys, &sealed, "tenant-b").await,
        Err(CryptoError::Open)
    );
    // Two seals of the same token use two data keys.
    let again = seal(&keys, token, "tenant-a").await.expect("seal");
    assert_ne!(again.wrapped_key, sealed.wrapped_key);

    // A wrapped key KMS did not issue is refused by KMS and named as a provider failure.
    let forged = Sealed {
        wrapped_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        ..sealed.clone()
    };
    match open(&keys, &forged, "tenant-a").await {
        Err(CryptoError::Provider(why)) => assert!(why.contains("kms:Decrypt"), "{why}"),
        other => panic!("expected a KMS failure, got {other:?}"),
    }
    // An unknown key fails at seal time, naming the call.
    let missing = KmsKeyProvider::new(&sdk, "00000000-0000-0000-0000-000000000000");
    match seal(&missing, token, "tenant-a").await {
        Err(CryptoError::Provider(why)) => {
            assert!(why.contains("kms:GenerateDataKey"), "{why}")
        }
        other => panic!("expected a KMS failure, got {other:?}"),
    }
}
