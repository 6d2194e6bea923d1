//! Master password rotation on request, a step only the ManagedDatabase has: the
//! annotation `tiered.io/rotate-password` with a new value asks for it once the
//! instance is Ready; a generated password is replaced in RDS and then in the
//! connection Secret, an AWS-managed one is RDS' job (an Event says so). The handled
//! value goes to `status.passwordRotation`, so a request is handled once. Password
//! values go only into the RDS request and the Secret, never into logs or Events.

use kube::ResourceExt;
use kube::runtime::events::EventType;

use crate::api::ManagedDatabase;
use crate::api::managed_database::ROTATE_PASSWORD_ANNOTATION;
use crate::controllers::data_tier::error::Error;
use crate::controllers::data_tier::secret::{Password, generate_password};
use crate::controllers::data_tier::status::Progress;
use crate::runtime::events::Publisher;

use crate::controllers::managed_database::rds::Rds;
use crate::controllers::managed_database::status::Report;

/// The Event reasons of a rotation request's three outcomes (docs/troubleshooting.md).
mod reasons {
    /// The object is a read replica: its password is its source's.
    pub const ROTATION_ON_REPLICA: &str = "RotationOnReplica";
    /// A new master password is set and in the connection Secret.
    pub const PASSWORD_ROTATED: &str = "PasswordRotated";
    /// `credentials.source: AWSManaged`: rotation is RDS' job.
    pub const ROTATION_BY_AWS: &str = "RotationByAws";
}

/// The value of `tiered.io/rotate-password` when it asks for a rotation not handled yet.
pub fn rotation_requested(database: &ManagedDatabase) -> Option<String> {
    let requested = database.annotations().get(ROTATE_PASSWORD_ANNOTATION)?;
    let handled = database
        .status
        .as_ref()
        .and_then(|status| status.password_rotation.as_deref());
    (handled != Some(requested.as_str())).then(|| requested.clone())
}

impl Rds {
    /// Handles a pending rotation request once the instance is Ready: a new generated
    /// password (into `password`; `None` means AWS-managed credentials), or an Event
    /// saying that RDS rotates AWS-managed ones. Returns the rotation value to record
    /// in status.
    pub async fn handle_rotation(
        &self,
        events: &Publisher,
        database: &ManagedDatabase,
        report: &Report,
        password: &mut Option<Password>,
    ) -> Result<Option<String>, Error> {
        let handled = database
            .status
            .as_ref()
            .and_then(|status| status.password_rotation.clone());
        let (Some(requested), Progress::Ready { .. }) =
            (rotation_requested(database), &report.progress)
        else {
            return Ok(handled);
        };
        let replica = report.observed.primary.as_ref().is_some_and(|instance| {
            crate::controllers::managed_database::replica_of::replica_of_spec(
                &database.spec,
                instance,
            )
        });
        let (reason, note) = if replica {
            // RDS keeps a replica's master password in step with its source's.
            (
                reasons::ROTATION_ON_REPLICA,
                format!(
                    "{ROTATE_PASSWORD_ANNOTATION}={requested} noted; {} is a read replica, whose master password is its source's: rotate the source's, or promote this one first",
                    report.id
                ),
            )
        } else if password.is_some() {
            *password = Some(self.rotate_password(&report.id, &requested).await?);
            (
                reasons::PASSWORD_ROTATED,
                format!(
                    "master password of {} rotated ({ROTATE_PASSWORD_ANNOTATION}={requested}); the connection Secret holds the new one",
                    report.id
                ),
            )
        } else {
            (
                reasons::ROTATION_BY_AWS,
                format!(
                    "{ROTATE_PASSWORD_ANNOTATION}={requested} noted; with credentials.source AWSManaged, RDS keeps the master password in Secrets Manager and rotation is RDS' job: use its rotation schedule or `aws rds modify-db-instance --rotate-master-user-password`"
                ),
            )
        };
        events
            .emit_reconcile(database, EventType::Normal, reason, note)
            .await;
        Ok(Some(requested))
    }

    /// Sets a new master password in RDS, applied immediately; the caller then writes
    /// it to the connection Secret. A crash in between is healed by the next
    /// reconcile, which still sees the request unhandled and rotates again.
    async fn rotate_password(&self, identifier: &str, requested: &str) -> Result<Password, Error> {
        let fresh = generate_password().map_err(Error::Password)?;
        let result = self.set_password(identifier, &fresh).await;
        self.mark_stale(identifier);
        result.map_err(Error::Rotation)?;
        tracing::info!(identifier = %identifier, request = %requested, "rotated the master password");
        Ok(fresh)
    }
}
