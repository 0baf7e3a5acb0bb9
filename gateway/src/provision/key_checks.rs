//! Requests to check a connection's API key with Datadog now, raised when a device reports that
//! Datadog answered 403 to the key it was given (`"last_error":"forbidden"`).
//!
//! Provisioning only raises them; whatever validates connections (a periodic task) takes the
//! receiving end once with [`super::Provisioning::take_key_check_receiver`] and checks each
//! connection it yields. At most one request per connection is queued at a time: a fleet whose
//! devices all report 403 at once asks for one check, not one per device, and the queue never
//! holds more entries than there are connections. A connection is queued again only once the
//! receiver has taken its earlier request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

/// The raising end, held by provisioning.
#[derive(Debug)]
pub struct KeyCheckRequests {
    sender: mpsc::UnboundedSender<String>,
    queued: Arc<Mutex<HashSet<String>>>,
}

/// The receiving end: yields connection ids to validate, each once per request burst.
#[derive(Debug)]
pub struct KeyCheckReceiver {
    receiver: mpsc::UnboundedReceiver<String>,
    queued: Arc<Mutex<HashSet<String>>>,
}

/// A connected pair.
pub fn key_check_channel() -> (KeyCheckRequests, KeyCheckReceiver) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let queued = Arc::new(Mutex::new(HashSet::new()));
    (
        KeyCheckRequests {
            sender,
            queued: queued.clone(),
        },
        KeyCheckReceiver { receiver, queued },
    )
}

impl KeyCheckRequests {
    /// Asks for a check of `connection_id`; `false` when one is already waiting (or nobody
    /// can receive any more), so nothing was queued.
    pub fn request(&self, connection_id: &str) -> bool {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        if queued.contains(connection_id) {
            return false;
        }
        if self.sender.send(connection_id.to_owned()).is_err() {
            return false;
        }
        queued.insert(connection_id.to_owned());
        true
    }
}

impl KeyCheckReceiver {
    /// The next connection to check; `None` once provisioning is gone. From this call on a new
    /// report about the same connection queues a new request.
    pub async fn recv(&mut self) -> Option<String> {
        let connection_id = self.receiver.recv().await?;
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&connection_id);
        Some(connection_id)
    }

    /// The next connection to check if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<String> {
        let connection_id = self.receiver.try_recv().ok()?;
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&connection_id);
        Some(connection_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_request_per_connection_is_queued() {
        let (requests, mut receiver) = key_check_channel();
        assert!(requests.request("conn-a"));
        assert!(!requests.request("conn-a"), "a second report adds nothing");
        assert!(requests.request("conn-b"));
        assert_eq!(receiver.try_recv().as_deref(), Some("conn-a"));
        assert!(
            requests.request("conn-a"),
            "taken, so it can be asked again"
        );
        assert_eq!(receiver.try_recv().as_deref(), Some("conn-b"));
        assert_eq!(receiver.try_recv().as_deref(), Some("conn-a"));
        assert_eq!(receiver.try_recv(), None);
    }

    #[test]
    fn a_dropped_receiver_queues_nothing() {
        let (requests, receiver) = key_check_channel();
        drop(receiver);
        assert!(!requests.request("conn-a"));
    }
}
