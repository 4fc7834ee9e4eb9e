"""A screening decision taken and recorded, as the API's screening routes and the mailroom page
both take them: the index to use (or the fail-safe 503), and the hit committed to the local
spool before anyone is told the answer."""

from __future__ import annotations

from gateway.hitlog.evidence import evidence_for
from gateway.hitlog.model import Hit
from gateway.http import Runtime
from gateway.validation import ApiError
from matcher.decisions import Decision
from matcher.index import Index


def current_index(runtime: Runtime) -> tuple[Index, bool]:
    """The index to screen with and whether its data is stale; ApiError 503 when there is none
    to use."""
    index = runtime.source.index
    stale = runtime.stale()
    if index is None or (stale and runtime.settings.stale_policy == "refuse"):
        raise unavailable(runtime, index)
    return index, stale


def unavailable(runtime: Runtime, index: Index | None) -> ApiError:
    """503 for no index at all, or for stale data under ``stale_policy = "refuse"``."""
    if index is None:
        return ApiError(
            503,
            "not_ready",
            f"index: {not_ready_why(runtime)}",
            extra={"version": None},
            headers={"Retry-After": "1"},
        )
    return ApiError(
        503,
        "stale_data",
        f"index: {stale_why(runtime)}",
        extra={"version": index.version},
        headers={"Retry-After": "1"},
    )


def not_ready_why(runtime: Runtime) -> str:
    """Why there is no index to screen with (the follower's reason, such as a store nobody has
    initialised, when it has one)."""
    reason = runtime.source.reason
    return f"no blocklist loaded yet ({reason})" if reason else "no blocklist loaded yet"


def stale_why(runtime: Runtime) -> str:
    """Why the index's data counts as stale: its last confirmation, the limit and the state."""
    age = runtime.source.age_seconds()
    shown = "never confirmed" if age is None else f"last confirmed {age:.1f}s ago"
    reason = runtime.source.reason
    state = runtime.source.state if not reason else f"{runtime.source.state}: {reason}"
    return f"{shown} (limit {runtime.settings.max_data_age:g}s, state {state})"


async def record_decision(
    runtime: Runtime,
    decision: Decision,
    establishment: str,
    prisoner: str,
    *,
    index: Index,
    attempt: str,
    content: str | None = None,
) -> str | None:
    """Counts a decision and, for a non-allow one, commits its hit to the spool, with what was
    tried (`attempt`: the dialled string, the recipient or the envelope; `content`: the text), before
    the answer goes back: the hit's id, or None. ApiError 503 when the hit log cannot be written."""
    runtime.metrics.observe_decision(decision.channel.value, decision.decision, decision.relay)
    if not decision.acted or decision.top is None:  # a letter held unread hits no request: no hit
        return None
    evidence = evidence_for(index, decision, establishment, attempt, content)
    hit = Hit.from_decision(decision, establishment, prisoner, runtime.gateway_id, evidence)
    try:
        await runtime.spool.record(hit)
    except Exception:
        # Not recorded means not answered: the caller's fail-safe applies (the PBX blocks).
        raise ApiError(503, "hit_log_unavailable", "hit: the hit log cannot be written") from None
    runtime.metrics.hit_recorded()
    if runtime.shipper is not None:
        runtime.shipper.wake()
    return hit.id
