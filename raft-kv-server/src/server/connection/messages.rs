//! The messages the node delivered to a subscribed connection, moved into
//! its output between replies as fast as the client takes them, and the
//! cut-off of a subscriber that fell behind beyond the output limit.

use super::{Connection, OUT_LIMIT};

impl Connection {
    /// Moves messages delivered to this connection's subscriber into the
    /// output while the client takes what it is sent.
    /// They go out only between replies, so a subscribe confirmation
    /// always comes before the messages of its subscription.
    pub(super) fn collect_messages(&mut self) {
        let Some(sub) = self.session.subscriber_if_any() else {
            return;
        };
        let budget = OUT_LIMIT.saturating_sub(self.out.len() - self.written);
        if budget > 0 {
            crate::server::pushes::drain(sub, self.session.protocol(), &mut self.out, budget);
        }
    }

    /// True once this connection's subscriber fell behind beyond the
    /// pub/sub output limit (`client-output-buffer-limit pubsub`): it is
    /// closed, and the log says so.
    pub(super) fn cut_off(&self) -> bool {
        let cut = self
            .session
            .subscriber_if_any()
            .is_some_and(raft_kv::runtime::Subscriber::is_cut_off);
        if cut {
            log::warn!(
                "client {} closed for overcoming of the pub/sub output buffer limit",
                self.session.describe_briefly()
            );
        }
        cut
    }

    /// Messages left over once the client took everything: the connection
    /// needs another pass (no delivery tells it while its inbox is not
    /// empty).
    pub(super) fn messages_left(&self) -> bool {
        self.pending.is_empty()
            && self.written == self.out.len()
            && self
                .session
                .subscriber_if_any()
                .is_some_and(raft_kv::runtime::Subscriber::has_waiting)
    }
}
