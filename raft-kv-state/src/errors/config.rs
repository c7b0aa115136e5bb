//! What a `CONFIG SET` value can be wrong with, beyond a bad integer.

/// What is wrong with a `client-output-buffer-limit` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BufferLimitProblem {
    /// Not groups of four words.
    #[error("Wrong number of arguments in buffer limit configuration.")]
    WrongArity,
    /// A class other than `normal`, `replica` (`slave`) or `pubsub`.
    #[error("Invalid client class specified in buffer limit configuration.")]
    BadClass,
    /// A limit that is not a size, or seconds that are not a number.
    #[error("Error in hard, soft or soft_seconds setting in buffer limit configuration.")]
    BadNumber,
    /// A change to the `normal` or `replica` class, which this store does
    /// not enforce (replies are bounded by the node's own limits).
    #[error(
        "only the pubsub class's limits apply here; normal and replica keep their values (replies are bounded by the node's own limits)"
    )]
    NotEnforced,
}
