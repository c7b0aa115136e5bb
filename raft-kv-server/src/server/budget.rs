//! The bytes of unfinished requests buffered across all client connections,
//! with a limit: many half-sent large requests cannot take the node's memory.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget.
pub(super) struct BufferBudget {
    used: AtomicUsize,
    limit: usize,
}

impl BufferBudget {
    pub(super) fn new(limit: usize) -> Self {
        BufferBudget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// The limit in bytes.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `bytes` from the budget; false (nothing taken) if that would go
    /// beyond the limit.
    pub(super) fn take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|n| *n <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `bytes` taken earlier.
    pub(super) fn give_back(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "gave back more than was taken");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_no_further() {
        let b = BufferBudget::new(100);
        assert!(b.take(60));
        assert!(!b.take(41), "beyond the limit");
        assert!(b.take(40));
        b.give_back(60);
        assert!(b.take(60));
    }
}
