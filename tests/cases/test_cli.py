from __future__ import annotations

import io
import json
from pathlib import Path

import redis

from gateway.cli import build_parser
from sync.keys import Keys
from tests.support.case_data import NAME, PHONE, request_data
from tests.support.redis_server import RedisFactory, frozen, replicate


def run(url: str, *argv: str, config: Path | None = None) -> tuple[int, str, str]:
    options = ["--config", str(config)] if config else []
    args = build_parser().parse_args(["case", "--redis-url", url, "--as", "cw-anna", *options, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_case_handler_flow(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_data(scope=["HLI"])))
    code, out, _ = run(redis_url, "new", str(path))
    assert code == 0 and out.startswith("UPC-") and "submitted" in out
    case_id = out.split()[0]

    assert run(redis_url, "send", case_id)[0] == 0
    code, out, _ = run(redis_url, "authorise", case_id)
    assert (code, out) == (0, f"{case_id} authorise: now authorised\n")
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        assert r.hexists(Keys().entries, case_id)

    code, out, _ = run(redis_url, "transfer", case_id, "--to", "wdi")
    assert code == 0
    code, out, _ = run(redis_url, "show", case_id)
    assert "HLI (transfer to WDI pending)" in out
    assert run(redis_url, "accept-transfer", case_id)[0] == 0  # casework may accept for the prison
    code, out, _ = run(redis_url, "list", "--establishment", "WDI")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "state", "pathway"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:2] == [case_id, "authorised"]

    code, out, _ = run(redis_url, "show", case_id)
    assert code == 0 and NAME in out and PHONE in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("2")] == [
        "submit",
        "send",
        "authorise",
        "transfer",
        "accept_transfer",
    ]

    code, out, _ = run(redis_url, "notice", case_id)
    assert NAME in out and PHONE not in out

    code, out, _ = run(redis_url, "live", case_id)  # no gateway is running
    assert code == 1 and "NOT YET LIVE on 0 of 0 live gateways" in out

    code, _, err = run(redis_url, "revoke", case_id)
    assert code == 1 and err == "case: reason: required for this action\n"
    code, _, err = run(redis_url, "send", case_id)
    assert code == 1 and err.startswith("case: state: cannot send a request that is authorised")
    assert run(redis_url, "release", case_id, "--reason", "handed to COM")[0] == 0
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        assert not r.hexists(Keys().entries, case_id)
        history = [json.loads(h) for h in r.lrange(Keys().case_history(case_id), 0, -1)]
    assert {h["actor"] for h in history} == {"cw-anna"}


def test_bad_request_file_names_the_field(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_data(pathway=3, consent="not_given", rationale="x")))
    code, _, err = run(redis_url, "new", str(path))
    assert code == 1 and err.startswith("case: consent:")
    path.write_text("{not json")
    code, _, err = run(redis_url, "new", str(path))
    assert code == 1 and err.startswith("case: file: not valid JSON")


def test_an_authorisation_is_reported_done_only_once_a_replica_holds_the_block(
    redis_server: RedisFactory, tmp_path: Path
) -> None:
    """The command writes through the deployment's writer: with ``write_replicas``, a block no
    replica confirms is not reported as done (a failover now could lose it), and one that is
    reported done is on the replica."""
    primary, replica = redis_server(), redis_server()
    replicate(primary, replica)
    deployment, impatient = tmp_path / "deployment.toml", tmp_path / "impatient.toml"
    deployment.write_text("[sync]\nwrite_replicas = 1\nwrite_wait_ms = 10000\n")
    impatient.write_text("[sync]\nwrite_replicas = 1\nwrite_wait_ms = 200\n")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_data(scope=["HLI"])))
    ids = []
    for _ in range(2):
        code, out, _ = run(primary.url, "new", str(path), config=deployment)
        assert code == 0, out
        ids.append(out.split()[0])
        assert run(primary.url, "send", ids[-1], config=deployment)[0] == 0

    with frozen(replica):
        code, out, err = run(primary.url, "authorise", ids[0], config=impatient)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("case: the write reached 0 of 1 replica(s) needed: not acknowledged")
    assert f"look with `nocontact case show {ids[0]}` before retrying" in err

    code, out, _ = run(primary.url, "authorise", ids[1], config=deployment)
    assert (code, out) == (0, f"{ids[1]} authorise: now authorised\n")
    with replica.client() as follower:
        assert follower.hexists(Keys().entries, ids[1])
