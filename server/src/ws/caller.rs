//! Who a request comes from, and what a handler gives back.

use chat_shared::UserRef;

use crate::conn::ConnHandle;
use crate::error::ChatError;

/// Who sent a frame and the connection it came on.
pub struct Caller {
    pub user: UserRef,
    pub conn: ConnHandle,
}

/// A handled request: done (its answers queued), or the error to answer it with.
pub type Outcome = Result<(), ChatError>;
