//! Per-key state for request throttles (sign-in back-off, provisioning limits) in a map whose
//! size is bounded: once `capacity` keys are tracked and none is stale, new keys share one
//! overflow entry, which is then throttled like a single key. Memory stays bounded however
//! many addresses or names an attacker uses, and the overflow never lets one through unlimited.

use std::collections::HashMap;
use std::hash::Hash;

/// Where a key's state lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Slot<K> {
    Key(K),
    /// Shared by keys that arrived while the map was full.
    Overflow,
}

#[derive(Debug)]
pub struct BoundedKeys<K, V> {
    entries: HashMap<Slot<K>, V>,
    capacity: usize,
}

impl<K: Eq + Hash, V> BoundedKeys<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// The slot for `key`: its own if tracked or if there is room (after dropping entries for
    /// which `stale` holds), the overflow otherwise.
    pub fn slot(&mut self, key: K, stale: impl Fn(&V) -> bool) -> Slot<K> {
        let slot = Slot::Key(key);
        if self.entries.contains_key(&slot) {
            return slot;
        }
        if self.tracked_keys() >= self.capacity {
            self.entries.retain(|_, value| !stale(value));
        }
        if self.tracked_keys() >= self.capacity {
            Slot::Overflow
        } else {
            slot
        }
    }

    pub fn get(&self, slot: &Slot<K>) -> Option<&V> {
        self.entries.get(slot)
    }

    pub fn get_mut(&mut self, slot: &Slot<K>) -> Option<&mut V> {
        self.entries.get_mut(slot)
    }

    /// The slot's state, created with `new` if absent.
    pub fn entry(&mut self, slot: Slot<K>, new: impl FnOnce() -> V) -> &mut V {
        self.entries.entry(slot).or_insert_with(new)
    }

    pub fn remove(&mut self, slot: &Slot<K>) {
        self.entries.remove(slot);
    }

    /// Keys with their own entry (the overflow entry not counted).
    pub fn tracked_keys(&self) -> usize {
        self.entries.len() - usize::from(self.entries.contains_key(&Slot::Overflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_share_the_overflow_once_full_unless_entries_are_stale() {
        let mut keys: BoundedKeys<u32, u32> = BoundedKeys::new(2);
        for key in [1, 2] {
            let slot = keys.slot(key, |_| false);
            assert_eq!(slot, Slot::Key(key));
            *keys.entry(slot, || 0) += 1;
        }
        let slot = keys.slot(3, |_| false);
        assert_eq!(slot, Slot::Overflow);
        *keys.entry(slot, || 0) += 1;
        assert_eq!(keys.slot(4, |_| false), Slot::Overflow);
        assert_eq!(keys.tracked_keys(), 2);
        // Tracked keys keep their own entry; stale ones make room.
        assert_eq!(keys.slot(1, |_| false), Slot::Key(1));
        assert_eq!(keys.slot(5, |count| *count == 1), Slot::Key(5));
        assert_eq!(keys.tracked_keys(), 0);
        assert_eq!(keys.get(&Slot::Overflow), None);
    }
}
