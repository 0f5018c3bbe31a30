//! The bot's one clock: the current time at millisecond precision, the
//! precision both stores keep. Pure cores never call it (they take the time as
//! an argument); the source-reading test checks that.

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at millisecond precision, the precision both backends keep.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
