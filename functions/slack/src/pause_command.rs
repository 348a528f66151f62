//! `/dd0c pause` and `/dd0c resume`: all of a tenant's alerts held (panic mode in its policy
//! override) or let through again; findings are still scored and recorded. Audited.

use dd0c_shared::finding_actions;
use dd0c_shared::governance::{self, Policy};
use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::StoreError;
use serde_json::json;

use crate::app::SlackApp;
use crate::reply::{ephemeral, section, slack_actor};

impl SlackApp {
    pub(crate) async fn pause(
        &self,
        tenant: &str,
        user: &str,
        paused: bool,
    ) -> Result<HttpResponse, StoreError> {
        let system =
            Policy::system().map_err(|e| StoreError::Invalid(format!("the system policy: {e}")))?;
        let now = self.clock.now();
        let who = slack_actor(user);
        let table = self.table.as_ref();
        let now_paused =
            match governance::store::set_paused(table, &system, tenant, paused, &who.user, now)
                .await
            {
                Ok(p) => p,
                Err(governance::store::PolicyStoreError::Store(e)) => return Err(e),
                Err(governance::store::PolicyStoreError::Governance(e)) => {
                    return Ok(ephemeral(
                        "dd0c",
                        json!([section(&format!(":warning: {e}"))]),
                    ))
                }
            };
        finding_actions::append_audit(
            table,
            &finding_actions::audit_entry(
                tenant,
                &who,
                now,
                if paused {
                    "alerts.pause"
                } else {
                    "alerts.resume"
                },
                "alerts",
                json!({"paused": now_paused}),
            ),
        )
        .await?;
        let text = match (paused, now_paused) {
            (true, _) => ":double_vertical_bar: All dd0c alerts are paused: findings are still scored and recorded (the dashboard and the digest show them). `/dd0c resume` lets alerts through again.",
            (false, false) => ":arrow_forward: dd0c alerts are back on.",
            (false, true) => ":warning: Your alerts are resumed, but dd0c's operator has paused alerting for everyone; they come back when that ends.",
        };
        Ok(ephemeral("dd0c alerts", json!([section(text)])))
    }
}
