//! What the connection Secret `<name>-connection` of a ManagedDatabase holds: `host`,
//! `port`, `username`, `database`, `url`, the generated `password` (or the ARN of the
//! one RDS keeps in Secrets Manager) and `readerHost` with replicas. The Secret itself
//! (name, labels, owner) and the password generator are the shared outline's, in
//! `crate::controllers::data_tier::secret`. Pure. Values never reach `Debug`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use percent_encoding::utf8_percent_encode;

use crate::api::ManagedDatabaseSpec;
use crate::api::managed_database::DatabaseEngine;
use crate::controllers::data_tier::secret::{Password, Reach, SecretData, USERINFO};

use crate::controllers::managed_database::desired::default_port;
use crate::controllers::managed_database::status::Observed;

/// Secret key of the password.
pub const PASSWORD_KEY: &str = "password";
/// Secret key of a generated password RDS does not have yet (a restored instance
/// before tiered set it): applications read `password` and `url`, which appear only
/// once RDS accepted it.
pub const PENDING_PASSWORD_KEY: &str = "pendingPassword";

/// How the master password reaches the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A generated password, in the Secret.
    Generated(Password),
    /// RDS keeps it in Secrets Manager; the Secret has the ARN (`None` until RDS
    /// reports it).
    AwsManaged(Option<String>),
}

/// What goes into the connection Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionDetails {
    /// The engine, for the URL scheme.
    pub engine: DatabaseEngine,
    /// The writer endpoint, and the first read replica's when there are replicas.
    pub reach: Reach,
    /// Master user name.
    pub username: String,
    /// Database name.
    pub database: String,
    /// The credential.
    pub credential: Credential,
}

/// The connection details of `spec` as RDS reports the instance in `observed`.
pub fn connection_details(
    spec: &ManagedDatabaseSpec,
    observed: &Observed,
    credential: Credential,
) -> ConnectionDetails {
    let endpoint = observed
        .primary
        .as_ref()
        .and_then(|primary| primary.endpoint());
    let credential = match credential {
        Credential::AwsManaged(None) => Credential::AwsManaged(
            observed
                .primary
                .as_ref()
                .and_then(|primary| primary.master_user_secret())
                .and_then(|secret| secret.secret_arn().map(str::to_owned)),
        ),
        other => other,
    };
    ConnectionDetails {
        engine: spec.engine,
        reach: Reach {
            host: endpoint.and_then(|endpoint| endpoint.address().map(str::to_owned)),
            port: endpoint
                .and_then(aws_sdk_rds::types::Endpoint::port)
                .unwrap_or_else(|| default_port(spec.engine)),
            reader_host: observed
                .replicas
                .iter()
                .find_map(|replica| replica.endpoint()?.address().map(str::to_owned)),
        },
        username: spec.master_username.clone(),
        database: spec.database_name.clone(),
        credential,
    }
}

/// `postgresql://user:pass@host:port/db` (`mysql://` for MySQL and MariaDB), user and
/// password percent-encoded; no password part with AWS-managed credentials.
pub fn connection_url(details: &ConnectionDetails, host: &str) -> String {
    let scheme = match details.engine {
        DatabaseEngine::Postgres => "postgresql",
        DatabaseEngine::Mysql | DatabaseEngine::Mariadb => "mysql",
    };
    let user = utf8_percent_encode(&details.username, USERINFO);
    let database = utf8_percent_encode(&details.database, USERINFO);
    let port = details.reach.port;
    match &details.credential {
        Credential::Generated(password) => {
            let password = utf8_percent_encode(password.expose(), USERINFO);
            format!("{scheme}://{user}:{password}@{host}:{port}/{database}")
        }
        Credential::AwsManaged(_) => format!("{scheme}://{user}@{host}:{port}/{database}"),
    }
}

/// The Secret's data: `host`, `port`, `username`, `database`, `url` once there is a
/// host, `password` or `masterUserSecretArn`, and `readerHost` when replicas exist.
pub fn connection_secret_data(details: &ConnectionDetails) -> BTreeMap<String, ByteString> {
    let mut data = SecretData::reach(&details.reach, |host| connection_url(details, host));
    data.put("username", details.username.clone());
    data.put("database", details.database.clone());
    match &details.credential {
        Credential::Generated(password) => data.put(PASSWORD_KEY, password.expose().to_owned()),
        Credential::AwsManaged(Some(arn)) => data.put("masterUserSecretArn", arn.clone()),
        Credential::AwsManaged(None) => {}
    }
    data.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(engine: DatabaseEngine, credential: Credential) -> ConnectionDetails {
        ConnectionDetails {
            engine,
            reach: Reach {
                host: Some("db.example.rds.amazonaws.com".into()),
                port: 5432,
                reader_host: None,
            },
            username: "app".into(),
            database: "news".into(),
            credential,
        }
    }

    fn text(data: &BTreeMap<String, ByteString>, key: &str) -> String {
        String::from_utf8(data[key].0.clone()).unwrap()
    }

    #[test]
    fn debug_never_shows_the_password() {
        use crate::controllers::data_tier::secret::ConnectionSecret;
        use k8s_openapi::api::core::v1::Secret;

        let password = Password::from_secret_value("hunter2-secret".into());
        let shown = format!(
            "{:?}",
            details(DatabaseEngine::Postgres, Credential::Generated(password))
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        let secret = ConnectionSecret(Secret {
            data: Some(BTreeMap::from([(
                "password".into(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Secret::default()
        });
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("password"),
            "{shown}"
        );
    }

    #[test]
    fn url_percent_encodes_the_password_and_picks_the_scheme() {
        let password = Password::from_secret_value("p:a%s#s?".into());
        let url = connection_url(
            &details(DatabaseEngine::Postgres, Credential::Generated(password)),
            "h",
        );
        assert_eq!(url, "postgresql://app:p%3Aa%25s%23s%3F@h:5432/news");
        let url = connection_url(
            &details(DatabaseEngine::Mariadb, Credential::AwsManaged(None)),
            "h",
        );
        assert_eq!(url, "mysql://app@h:5432/news");
    }

    #[test]
    fn secret_data_has_the_documented_keys() {
        let mut generated = details(
            DatabaseEngine::Postgres,
            Credential::Generated(Password::from_secret_value("pw".into())),
        );
        generated.reach.reader_host = Some("replica.example".into());
        let data = connection_secret_data(&generated);
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "database",
                "host",
                "password",
                "port",
                "readerHost",
                "url",
                "username"
            ]
        );
        assert_eq!(text(&data, "port"), "5432");

        let managed = details(
            DatabaseEngine::Postgres,
            Credential::AwsManaged(Some("arn:aws:secretsmanager:x".into())),
        );
        let data = connection_secret_data(&managed);
        assert!(!data.contains_key("password"));
        assert_eq!(
            text(&data, "masterUserSecretArn"),
            "arn:aws:secretsmanager:x"
        );
    }

    #[test]
    fn secret_without_a_host_yet_has_no_url() {
        let mut pending = details(
            DatabaseEngine::Postgres,
            Credential::Generated(Password::from_secret_value("pw".into())),
        );
        pending.reach.host = None;
        let data = connection_secret_data(&pending);
        assert!(!data.contains_key("url") && !data.contains_key("host"));
        assert!(data.contains_key("password"));
    }
}
