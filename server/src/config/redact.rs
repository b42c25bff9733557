//! Masking of secrets in configs shown to clients (`GET /mounts`, `GET /plugins`).

use serde_json::Value;

/// Whether a config key names a secret: it contains password, passwd, secret, token, dsn,
/// credential, access_key or apikey, or has `key` as one of its words (split at `_`, `-`, `.`:
/// `api_key`, `private_key_pem`), but not words that merely contain "key" (`monkey`, `keys`).
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 8] = [
        "password",
        "passwd",
        "secret",
        "token",
        "dsn",
        "credential",
        "access_key",
        "apikey",
    ];
    let k = key.to_ascii_lowercase();
    // `key` as a word of the name (`key`, `api_key`, `private_key_pem`, `key-file`), not inside
    // another word (`monkey`, `keys`).
    WORDS.iter().any(|w| k.contains(w)) || k.split(['_', '-', '.']).any(|word| word == "key")
}

/// Replaces the values of secret-looking keys ([`is_secret_key`]) with `"***"`, recursively.
pub fn redact(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = is_secret_key(k);
                    let v = if secret && !v.is_null() {
                        Value::String("***".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(text) => Value::String(mask_url_password(text)),
        other => other.clone(),
    }
}

/// `scheme://user:password@host...` with the password as `***`, and `scheme://token@host...` (a
/// user name alone, which is how tokens travel in URLs) with the user as `***` (proxyfs's
/// `base_url` may carry credentials under a key that does not look secret); any other text
/// unchanged.
fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => format!("{scheme}://***{}", &rest[at..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redact_hides_secret_looking_values() {
        let v = redact(
            &json!({"dsn": "u:p@x", "access_key_id": "A", "bucket": "b", "nested": {"password": "p"}}),
        );
        assert_eq!(
            v,
            json!({"dsn": "***", "access_key_id": "***", "bucket": "b", "nested": {"password": "***"}})
        );
    }

    #[test]
    fn key_as_a_word_is_secret_and_inside_a_word_is_not() {
        for secret in [
            "key",
            "api_key",
            "private_key_pem",
            "key-file",
            "signing.key",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        for plain in ["monkey", "keys", "keyspace", "bucket", "cache_max_size"] {
            assert!(!is_secret_key(plain), "{plain}");
        }
    }

    #[test]
    fn redact_masks_passwords_in_urls() {
        let v = redact(&json!({
            "base_url": "http://al:pw@h:1/api/v1",
            "plain": "http://h:1/a@b",
            "user_only": "http://al@h:1",
            "text": "a:b@c",
        }));
        assert_eq!(
            v,
            json!({
                "base_url": "http://al:***@h:1/api/v1",
                "plain": "http://h:1/a@b",
                "user_only": "http://***@h:1",
                "text": "a:b@c",
            })
        );
    }
}
