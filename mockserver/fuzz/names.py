"""The public names of :mod:`mockserver.fuzz.strategies`, apart from it: ``mockserver.fuzz`` lists
them (and loads them on first use) without importing Hypothesis, and the strategies module takes
them as its ``__all__``."""

STRATEGIES = (
    "AWKWARD_PIECES", "BLOCK_KINDS", "FAULT_KINDS", "REAL_MESSAGES", "RETRYABLE_STATUSES", "RETRY_AFTER_FORMS", "STATUSES",
    "blocks", "byte_splits", "errors", "fault_steps", "faults", "http_date", "messages", "replies", "retry_after",
    "scenarios", "sequences", "should_retry", "steps", "stream_of", "streams", "texts", "tool_inputs", "wire_blocks",
    "with_faults",
)
