//! A bounded FIFO of encoded payloads waiting to be sent, stored inline (no allocator): `SLOTS`
//! payloads of at most `SLOT_BYTES` each. A payload leaves only through [`PayloadQueue::pop_front`],
//! which the uploader calls once Datadog has accepted it or it was dropped with a reason.

use crate::http::{ContentEncoding, Endpoint};

/// What describes a queued payload besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PayloadInfo {
    /// Where it goes.
    pub endpoint: Endpoint,
    /// How the body is encoded.
    pub encoding: ContentEncoding,
    /// Telemetry items inside (points, events, log entries or checks), for the caller's
    /// accounting: the uploader reports them back when the payload is accepted or dropped.
    pub items: u32,
}

/// Why a payload could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QueueError {
    /// Every slot is taken.
    Full,
    /// The payload is larger than one slot.
    TooLarge,
    /// The payload is empty.
    Empty,
    /// The endpoint does not accept the payload's `Content-Encoding`
    /// ([`Endpoint::accepts_encoding`](crate::http::Endpoint::accepts_encoding)).
    EncodingNotAccepted,
}

impl core::fmt::Display for QueueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Full => "upload queue is full",
            Self::TooLarge => "payload is larger than a queue slot",
            Self::Empty => "payload is empty",
            Self::EncodingNotAccepted => "endpoint does not accept this Content-Encoding",
        })
    }
}

impl core::error::Error for QueueError {}

#[derive(Clone, Copy)]
struct Slot<const SLOT_BYTES: usize> {
    info: Option<PayloadInfo>,
    len: usize,
    bytes: [u8; SLOT_BYTES],
}

/// The bounded payload queue.
pub struct PayloadQueue<const SLOTS: usize, const SLOT_BYTES: usize> {
    slots: [Slot<SLOT_BYTES>; SLOTS],
    head: usize,
    len: usize,
}

impl<const SLOTS: usize, const SLOT_BYTES: usize> Default for PayloadQueue<SLOTS, SLOT_BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize, const SLOT_BYTES: usize> core::fmt::Debug
    for PayloadQueue<SLOTS, SLOT_BYTES>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PayloadQueue")
            .field("len", &self.len)
            .field("capacity", &SLOTS)
            .field("slot_bytes", &SLOT_BYTES)
            .finish()
    }
}

impl<const SLOTS: usize, const SLOT_BYTES: usize> PayloadQueue<SLOTS, SLOT_BYTES> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            slots: [Slot {
                info: None,
                len: 0,
                bytes: [0; SLOT_BYTES],
            }; SLOTS],
            head: 0,
            len: 0,
        }
    }

    /// Payloads waiting.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots still free.
    pub const fn free_slots(&self) -> usize {
        SLOTS - self.len
    }

    /// Copies `body` in at the back. Nothing is stored on error.
    pub fn push_back(&mut self, info: PayloadInfo, body: &[u8]) -> Result<(), QueueError> {
        if body.is_empty() {
            return Err(QueueError::Empty);
        }
        if body.len() > SLOT_BYTES {
            return Err(QueueError::TooLarge);
        }
        if self.len >= SLOTS {
            return Err(QueueError::Full);
        }
        let index = (self.head + self.len) % SLOTS;
        let slot = self.slots.get_mut(index).ok_or(QueueError::Full)?;
        let dst = slot
            .bytes
            .get_mut(..body.len())
            .ok_or(QueueError::TooLarge)?;
        dst.copy_from_slice(body);
        slot.len = body.len();
        slot.info = Some(info);
        self.len += 1;
        Ok(())
    }

    /// The oldest payload, without removing it.
    pub fn front(&self) -> Option<(PayloadInfo, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots.get(self.head)?;
        Some((slot.info?, slot.bytes.get(..slot.len)?))
    }

    /// Removes the oldest payload and returns its description.
    pub fn pop_front(&mut self) -> Option<PayloadInfo> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots.get_mut(self.head)?;
        let info = slot.info.take();
        slot.len = 0;
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: PayloadInfo = PayloadInfo {
        endpoint: Endpoint::SeriesV2,
        encoding: ContentEncoding::Identity,
        items: 3,
    };

    #[test]
    fn fifo_order_and_wraparound() {
        let mut q = PayloadQueue::<2, 8>::new();
        for round in 0u8..5 {
            q.push_back(INFO, &[round; 4]).unwrap();
            q.push_back(INFO, &[round + 100; 2]).unwrap();
            assert_eq!(q.push_back(INFO, &[1]), Err(QueueError::Full));
            assert_eq!(q.front().unwrap().1, &[round; 4]);
            assert_eq!(q.pop_front(), Some(INFO));
            assert_eq!(q.front().unwrap().1, &[round + 100; 2]);
            assert_eq!(q.pop_front(), Some(INFO));
            assert!(q.is_empty());
            assert_eq!(q.pop_front(), None);
        }
    }

    #[test]
    fn rejects_oversized_and_empty_payloads_without_storing() {
        let mut q = PayloadQueue::<2, 4>::new();
        assert_eq!(q.push_back(INFO, &[0; 5]), Err(QueueError::TooLarge));
        assert_eq!(q.push_back(INFO, &[]), Err(QueueError::Empty));
        assert_eq!(q.len(), 0);
        assert_eq!(q.free_slots(), 2);
    }

    #[test]
    fn zero_slot_queue_is_always_full() {
        let mut q = PayloadQueue::<0, 4>::new();
        assert_eq!(q.push_back(INFO, &[1]), Err(QueueError::Full));
        assert_eq!(q.front(), None);
    }
}
