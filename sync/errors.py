"""The sync package's exceptions. None of them carries a protected person's details: they name
references, versions, keys, files and line numbers only."""

from __future__ import annotations


class SyncError(Exception):
    """Base class for errors raised by ``sync``."""


class UnparsableChange(SyncError):
    """A change-stream message that cannot be read; the follower resyncs from a full cut."""

    def __init__(self, stream_id: str, detail: str) -> None:
        super().__init__(stream_id, detail)
        self.stream_id = stream_id
        self.detail = detail

    def __str__(self) -> str:
        return f"change {self.stream_id}: {self.detail}"


class ConcurrentChange(SyncError):
    """A full republish found the store changed after it began; nothing was swapped in. Retry."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(expected, found)
        self.expected = expected
        self.found = found

    def __str__(self) -> str:
        return f"the store changed during the republish (began at {self.expected}, now {self.found}); retry"


class OwnedByRequest(SyncError):
    """A write (outside the request workflow) named entries that requests own: their blocks change
    only through the requests. Nothing in the write was applied."""

    def __init__(self, references: tuple[str, ...]) -> None:
        super().__init__(references)
        self.references = references

    def __str__(self) -> str:
        return (
            f"{', '.join(self.references)}: owned by a request (the request of that id); "
            "change a request's block through the request, not here; nothing was written"
        )


class NotReplicated(SyncError):
    """A write is in the primary but WAIT did not see it on enough replicas in time: it is not
    acknowledged (a failover now could lose it). Look before retrying: it may well be there."""

    def __init__(self, wanted: int, acknowledged: int) -> None:
        super().__init__(wanted, acknowledged)
        self.wanted = wanted
        self.acknowledged = acknowledged

    def __str__(self) -> str:
        return f"the write reached {self.acknowledged} of {self.wanted} replica(s) needed: not acknowledged"


class ShrinkRefused(SyncError):
    """A republish the gateways' guard would refuse (an empty or sharply shrunken blocklist without
    an explicit licence): nothing was published, the store is as it was."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"refused: {self.reason}; nothing was published (every gateway would refuse it)"


class SnapshotRejected(SyncError):
    """A local snapshot file that is missing, partial, corrupt or of another format."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(path, detail)
        self.path = path
        self.detail = detail

    def __str__(self) -> str:
        return f"snapshot file {self.path}: {self.detail}"


class EmbeddedRedisError(SyncError):
    """The embedded redis-server could not be started or did not answer."""


class DataDirInUse(SyncError):
    """Another `nocontact serve` (or a command running the embedded Redis) holds the data directory."""

    def __init__(self, data_dir: str, pid: str) -> None:
        super().__init__(data_dir, pid)
        self.data_dir = data_dir
        self.pid = pid

    def __str__(self) -> str:
        return (
            f"the data directory {self.data_dir} is in use by another nocontact process (pid {self.pid}): "
            "stop it, or give this gateway its own --data-dir"
        )
