//! The connection Secret `<name>-connection`: the master password (generated in
//! `crate::controllers::data_tier::credentials`), the Secret's data, and the
//! connection URL. Pure apart from reading the CSPRNG. Values never reach `Debug`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use percent_encoding::utf8_percent_encode;

use crate::api::{ManagedDatabase, ManagedDatabaseSpec};

use crate::api::managed_database::DatabaseEngine;
use crate::controllers::managed_database::desired::default_port;
use crate::controllers::managed_database::reconcile::Observed;

use crate::controllers::data_tier::credentials::USERINFO;
pub use crate::controllers::data_tier::credentials::{
    ConnectionSecret, GENERATED_LEN as PASSWORD_LEN, Password, RandomError, generate_password,
    is_password_char,
};

/// Secret key of the password.
pub const PASSWORD_KEY: &str = "password";

/// The name of the connection Secret of the ManagedDatabase `name`.
pub fn connection_secret_name(name: &str) -> String {
    format!("{name}-connection")
}

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
    /// Writer endpoint address; `None` while RDS has not reported one.
    pub host: Option<String>,
    /// Writer port.
    pub port: i32,
    /// Master user name.
    pub username: String,
    /// Database name.
    pub database: String,
    /// The credential.
    pub credential: Credential,
    /// Address of the first read replica, when there are replicas.
    pub reader_host: Option<String>,
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
        host: endpoint.and_then(|endpoint| endpoint.address().map(str::to_owned)),
        port: endpoint
            .and_then(aws_sdk_rds::types::Endpoint::port)
            .unwrap_or_else(|| default_port(spec.engine)),
        username: spec.master_username.clone(),
        database: spec.database_name.clone(),
        credential,
        reader_host: observed
            .replicas
            .iter()
            .find_map(|replica| replica.endpoint()?.address().map(str::to_owned)),
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
    let port = details.port;
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
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        data.insert(key.to_owned(), ByteString(value.into_bytes()));
    };
    put("username", details.username.clone());
    put("database", details.database.clone());
    put("port", details.port.to_string());
    if let Some(host) = &details.host {
        put("host", host.clone());
        put("url", connection_url(details, host));
    }
    match &details.credential {
        Credential::Generated(password) => put(PASSWORD_KEY, password.expose().to_owned()),
        Credential::AwsManaged(Some(arn)) => put("masterUserSecretArn", arn.clone()),
        Credential::AwsManaged(None) => {}
    }
    if let Some(reader_host) = &details.reader_host {
        put("readerHost", reader_host.clone());
    }
    data
}

/// The connection Secret, owned (controller ownerReference) by `database`.
pub fn desired_connection_secret(
    database: &ManagedDatabase,
    details: &ConnectionDetails,
) -> ConnectionSecret {
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "tiered".to_owned(),
        ),
        (
            "app.kubernetes.io/component".to_owned(),
            "database".to_owned(),
        ),
        (
            "app.kubernetes.io/instance".to_owned(),
            crate::controllers::tiered_app::build::naming::label_value(&database.name_any()),
        ),
    ]);
    ConnectionSecret(Secret {
        metadata: ObjectMeta {
            name: Some(connection_secret_name(&database.name_any())),
            namespace: database.namespace(),
            labels: Some(labels),
            owner_references: database.controller_owner_ref(&()).map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(connection_secret_data(details)),
        ..Secret::default()
    })
}

/// The generated password kept in an existing connection Secret.
pub fn password_from_secret(secret: &Secret) -> Option<Password> {
    let value = secret.data.as_ref()?.get(PASSWORD_KEY)?;
    let text = String::from_utf8(value.0.clone()).ok()?;
    (!text.is_empty()).then(|| Password::from_secret_value(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(engine: DatabaseEngine, credential: Credential) -> ConnectionDetails {
        ConnectionDetails {
            engine,
            host: Some("db.example.rds.amazonaws.com".into()),
            port: 5432,
            username: "app".into(),
            database: "news".into(),
            credential,
            reader_host: None,
        }
    }

    fn text(data: &BTreeMap<String, ByteString>, key: &str) -> String {
        String::from_utf8(data[key].0.clone()).unwrap()
    }

    #[test]
    fn debug_never_shows_the_password() {
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
        generated.reader_host = Some("replica.example".into());
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
        pending.host = None;
        let data = connection_secret_data(&pending);
        assert!(!data.contains_key("url") && !data.contains_key("host"));
        assert!(data.contains_key("password"));
    }
}
