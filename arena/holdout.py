"""The holdout: event ids no trainer may ever learn from, so the evaluator can judge on them."""

from __future__ import annotations

import hashlib


def is_holdout(event_id: str, percent: int) -> bool:
    """Whether an event belongs to the holdout that no trainer may ever train on.

    The split is a pure function of the event id: blake2b of its UTF-8 bytes, first 8 bytes
    as an unsigned integer, modulo 100, below ``percent``. Python's ``hash()`` is salted per
    process, so the trainer and the evaluator would disagree; this never does, across
    processes, hosts and restarts. About ``percent``% of uniformly random ids are held out.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"holdout percent must be within 0..100, got {percent}")
    digest = hashlib.blake2b(event_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < percent
