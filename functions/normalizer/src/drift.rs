//! Change and drift tracking from CloudTrail (the drift product): which resources IaC owns,
//! and which write calls change them out of band. Returns the domain events to publish.

use dd0c_shared::batch::HandlerError;
use dd0c_shared::bus::BusEvent;
use dd0c_shared::clock::Clock;
use dd0c_shared::domain::CloudTrailRecord;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::AccountLink;

pub(crate) async fn track(
    _table: &dyn Table,
    _clock: &dyn Clock,
    _record: &CloudTrailRecord,
    _link: &AccountLink,
) -> Result<Vec<BusEvent>, HandlerError> {
    Ok(Vec::new())
}
