//! Reading request bodies with a size cap and a time limit, so no client can exhaust memory
//! or park a handler forever.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, Limited};

/// A client that stops sending mid-body gets 408 after this long.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// More than the allowed number of bytes (before decoding).
    TooLarge,
    /// The body did not arrive in time.
    Timeout,
    /// The connection failed mid-body.
    Incomplete,
}

pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Incomplete),
    }
}
