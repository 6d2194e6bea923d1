//! What the connection Secret `<name>-connection` of a CacheCluster holds: `host`,
//! `port`, `readerHost`, `authToken` (when AUTH is on) and `url`
//! (`rediss://:<token>@host:port` with TLS, `redis://host:port` without). The Secret
//! itself (name, labels, owner) and the token generator are the shared outline's, in
//! `crate::controllers::data_tier::secret`. Pure. Values never reach `Debug`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use percent_encoding::utf8_percent_encode;

use crate::controllers::data_tier::secret::{Password, Reach, SecretData, USERINFO};

use crate::controllers::cache_cluster::desired::DEFAULT_PORT;
use crate::controllers::cache_cluster::status::{Observed, endpoint, reader_endpoint};

/// Secret key of the AUTH token.
pub const AUTH_TOKEN_KEY: &str = "authToken";

/// What goes into the connection Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionDetails {
    /// The primary (or configuration) and reader endpoints.
    pub reach: Reach,
    /// TLS in transit: the URL scheme is `rediss`.
    pub tls: bool,
    /// The AUTH token, when AUTH is on.
    pub auth_token: Option<Password>,
}

/// The connection details as ElastiCache reports the group in `observed`.
pub fn connection_details(
    tls: bool,
    observed: &Observed,
    auth_token: Option<Password>,
) -> ConnectionDetails {
    let primary = observed.group.as_ref().and_then(endpoint);
    ConnectionDetails {
        reach: Reach {
            host: primary.as_ref().map(|e| e.address.clone()),
            port: primary.map_or(DEFAULT_PORT, |e| e.port),
            reader_host: observed
                .group
                .as_ref()
                .and_then(reader_endpoint)
                .map(|e| e.address),
        },
        tls,
        auth_token,
    }
}

/// `rediss://:<token>@host:port` (token percent-encoded) or `redis://host:port`.
pub fn connection_url(details: &ConnectionDetails, host: &str) -> String {
    let scheme = if details.tls { "rediss" } else { "redis" };
    let port = details.reach.port;
    match &details.auth_token {
        Some(token) => {
            let token = utf8_percent_encode(token.expose(), USERINFO);
            format!("{scheme}://:{token}@{host}:{port}")
        }
        None => format!("{scheme}://{host}:{port}"),
    }
}

/// The Secret's data: `port`, `host` and `url` once there is a host, `authToken`
/// with AUTH, `readerHost` when reported.
pub fn connection_secret_data(details: &ConnectionDetails) -> BTreeMap<String, ByteString> {
    let mut data = SecretData::reach(&details.reach, |host| connection_url(details, host));
    if let Some(token) = &details.auth_token {
        data.put(AUTH_TOKEN_KEY, token.expose().to_owned());
    }
    data.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(tls: bool, token: Option<&str>) -> ConnectionDetails {
        ConnectionDetails {
            reach: Reach {
                host: Some("master.cache.example".into()),
                port: 6379,
                reader_host: None,
            },
            tls,
            auth_token: token.map(|t| Password::from_secret_value(t.into())),
        }
    }

    fn text(data: &BTreeMap<String, ByteString>, key: &str) -> String {
        String::from_utf8(data[key].0.clone()).unwrap()
    }

    #[test]
    fn table_of_urls_by_encryption_and_token() {
        let cases = [
            (
                true,
                Some("a#b&c$"),
                "rediss://:a%23b%26c%24@master.cache.example:6379",
            ),
            (true, None, "rediss://master.cache.example:6379"),
            (false, None, "redis://master.cache.example:6379"),
        ];
        for (tls, token, url) in cases {
            assert_eq!(
                connection_url(&details(tls, token), "master.cache.example"),
                url
            );
        }
    }

    #[test]
    fn secret_data_has_the_documented_keys() {
        let mut with_reader = details(true, Some("tok"));
        with_reader.reach.reader_host = Some("replica.cache.example".into());
        let data = connection_secret_data(&with_reader);
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["authToken", "host", "port", "readerHost", "url"]);
        assert_eq!(text(&data, "authToken"), "tok");
        let plain = connection_secret_data(&details(false, None));
        assert!(!plain.contains_key("authToken") && !plain.contains_key("readerHost"));
    }

    #[test]
    fn secret_without_a_host_yet_has_no_url_but_keeps_the_token() {
        let mut pending = details(true, Some("tok"));
        pending.reach.host = None;
        let data = connection_secret_data(&pending);
        assert!(!data.contains_key("url") && !data.contains_key("host"));
        assert!(data.contains_key("authToken"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", details(true, Some("hunter2-token")));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
