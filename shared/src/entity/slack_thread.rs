//! The Slack thread a burst of findings by one actor goes to (`T#SLACKTHREADS` /
//! `THREAD#<key>`, with a TTL: the burst window), written by the notifier.

use crate::store::Key;

use super::tenant;

pub fn key(tenant: &str, thread_key: &str) -> Key {
    Key::new(
        tenant::sub(tenant, "SLACKTHREADS"),
        format!("THREAD#{thread_key}"),
    )
}

/// The thread key of a thread item's key.
pub fn thread_of(key: &Key) -> Option<&str> {
    key.sk.strip_prefix("THREAD#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_keys_round_trip() {
        let k = key("t", "arn:x#1");
        assert_eq!(k.pk, "TENANT#t#SLACKTHREADS");
        assert_eq!(thread_of(&k), Some("arn:x#1"));
    }
}
