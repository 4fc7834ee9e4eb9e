"""Redis high availability for tests, with Redis's own tools: a primary and two replicas
(redis-server started from config/examples/redis-nocontact.conf) and three sentinels (Debian's
redis-sentinel, started from config/examples/sentinel-nocontact.conf), all on free ports in a
temporary directory. Only the ports, directories and Sentinel's timings differ from the example
files. Two replicas, as in production: a write is acknowledged once WAIT sees it on a replica, so
after one node is lost the new primary still needs a replica to acknowledge writes."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import redis

from config import EXAMPLES_DIR
from tests.support.processes import Service, free_port
from tests.support.redis_server import RedisServer, redis_executable
from tests.support.tools import require_command

SERVICE = "nocontact"
DOWN_AFTER_MS = 1000  # production: 5000 (the example file)


class DataNode(RedisServer):
    """A redis-server whose configuration is a copy of the example file (Sentinel has each node
    CONFIG REWRITE its file on a failover), plus `replicaof` for a replica."""

    def __init__(self, workdir: Path, *, replica_of: int | None = None) -> None:
        super().__init__(workdir, persistence=True, executable=redis_executable())
        self.replica_of = replica_of
        self.config = workdir / "redis.conf"
        shutil.copyfile(EXAMPLES_DIR / "redis-nocontact.conf", self.config)

    def _answers(self) -> bool:
        """Up, even while a replica's link is not: it then refuses reads (replica-serve-stale-data
        is off in the example file) with MasterDownError."""
        try:
            return super()._answers()
        except redis.exceptions.MasterDownError:
            return True

    def _args(self) -> list[str]:
        args = super()._args()
        args.insert(1, str(self.config))
        args += ["--repl-diskless-sync-delay", "0"]  # production waits 5 s for more replicas to join
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        return args


class Sentinel(Service):
    def __init__(self, workdir: Path, executable: str, primary_port: int) -> None:
        super().__init__(workdir / "sentinel.log")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.executable = executable
        self.port = free_port()
        self.config = workdir / "sentinel.conf"
        text = (EXAMPLES_DIR / "sentinel-nocontact.conf").read_text()
        text = re.sub(r"(?m)^port \d+$", f"port {self.port}", text)
        text = re.sub(
            rf"(?m)^sentinel monitor {SERVICE} \S+ \d+ 2$",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2",
            text,
        )
        text = re.sub(
            rf"(?m)^sentinel down-after-milliseconds {SERVICE} \d+$",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            text,
        )
        text = re.sub(
            rf"(?m)^sentinel failover-timeout {SERVICE} \d+$",
            f"sentinel failover-timeout {SERVICE} 10000",
            text,
        )
        assert f"127.0.0.1 {primary_port} 2" in text and f"{SERVICE} {DOWN_AFTER_MS}" in text, (
            "example file changed"
        )
        self.config.write_text(text + f'\ndir "{workdir}"\nbind 127.0.0.1\n')  # logs to stdout: our log

    def start(self) -> Sentinel:
        self.spawn([self.executable, str(self.config)])
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)


class SentinelCluster:
    """A primary, `replicas` replicas and three sentinels. ``url`` is the redis+sentinel URL."""

    def __init__(self, workdir: Path, replicas: int = 2) -> None:
        executable = require_command("redis-sentinel", "redis-sentinel")
        self.primary = DataNode(workdir / "node0")
        self.replicas = [
            DataNode(workdir / f"node{i + 1}", replica_of=self.primary.port) for i in range(replicas)
        ]
        self.sentinels = [Sentinel(workdir / f"sentinel{i}", executable, self.primary.port) for i in range(3)]

    @property
    def nodes(self) -> list[DataNode]:
        return [self.primary, *self.replicas]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self, timeout: float = 20.0) -> SentinelCluster:
        for node in self.nodes:
            node.start()
        for sentinel in self.sentinels:
            sentinel.start()
        deadline = time.monotonic() + timeout
        while not self._settled(self.primary.port):
            if time.monotonic() > deadline:
                raise AssertionError("the sentinels did not find the replica and each other")
            time.sleep(0.1)
        return self

    def _settled(self, primary_port: int) -> bool:
        """Every replica is in step with `primary_port`, and every sentinel names it as primary,
        sees every replica online and the two other sentinels: a failover can be agreed."""
        try:
            for node in self.replicas:
                with node.client() as c:
                    info = c.info("replication")
                    if (
                        info.get("master_link_status") != "up"
                        or int(info.get("master_port", 0)) != primary_port
                    ):
                        return False
            for sentinel in self.sentinels:
                with sentinel.client() as c:
                    if int(c.sentinel_get_master_addr_by_name(SERVICE)[1]) != primary_port:
                        return False
                    replicas = c.sentinel_slaves(SERVICE)
                    online = [
                        r for r in replicas if "s_down" not in r["flags"] and r["master-link-status"] == "ok"
                    ]
                    if len(online) != len(self.replicas):
                        return False
                    if len(c.sentinel_sentinels(SERVICE)) != 2:
                        return False
        except (redis.RedisError, OSError, TypeError):
            return False
        return True

    def primary_port(self) -> int | None:
        """The port the sentinels agree is the primary's, or None while they disagree."""
        ports = set()
        for sentinel in self.sentinels:
            try:
                with sentinel.client() as c:
                    ports.add(int(c.sentinel_get_master_addr_by_name(SERVICE)[1]))
            except (redis.RedisError, OSError, TypeError):
                return None
        return ports.pop() if len(ports) == 1 else None

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """The new primary's port once every sentinel names a node other than `old_port` and
        that node is a primary with a replica in step again (so it takes writes)."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.primary_port()
            if port is not None and port != old_port:
                try:
                    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as c:
                        info = c.info("replication")
                        if info["role"] == "master" and int(info.get("min_slaves_good_slaves", 0)) >= 1:
                            return port
                except (redis.RedisError, OSError):
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("no failover: the sentinels still name the old primary")
            time.sleep(0.05)

    def node(self, port: int) -> DataNode:
        return next(n for n in self.nodes if n.port == port)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        for node in self.nodes:
            node.kill()
