"""The embedded chain outlives its process: ``kudos serve`` stopped (SIGTERM) and started again on the same data
directory serves the same contract, tokens, wallets and metadata, and goes on with the next token id."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx2
import pytest

from kudos_chain import Chain, KudosClient
from kudos_chain.testing import KudosServer, ServerError
from tests.service_process.conftest import (
    RECIPIENTS,
    NewServer,
    award_body,
    awarded_events,
    post_award,
    wait_confirmed,
)

FIRST = 6


def _snapshot(http: httpx2.Client, token_ids: list[int]) -> dict[str, object]:
    """What a restart must keep: the contract, each wallet's tokens, and each token's metadata document."""
    wallets = {}
    for address in RECIPIENTS:
        answer = http.get(f"/v1/wallets/{address}")
        assert answer.status_code == 200, answer.text
        page = answer.json()
        wallets[address] = (page["contract_address"], page["total"], [i["token_id"] for i in page["items"]])
    metadata = {}
    for token_id in token_ids:
        answer = http.get(f"/v1/tokens/{token_id}")
        assert answer.status_code == 200, answer.text  # 200 only when it hashes to the content hash on chain
        metadata[token_id] = (answer.content, answer.headers["X-Content-Hash"])
    return {"wallets": wallets, "metadata": metadata}


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Award :data:`FIRST` kudos, stop the server, start it again, look again, award one more."""
    data_dir = tmp_path_factory.mktemp("restart")
    out: dict[str, object] = {"data_dir": data_dir}
    server = KudosServer(data_dir)
    try:
        server.start()
        key = server.create_key("award")
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            ids = [post_award(http, key, f"first-{i}", award_body(i)).json()["id"] for i in range(FIRST)]
            before = wait_confirmed(http, key, ids, timeout=30)
            out["ids"] = ids
            out["before"] = before
            token_ids = sorted(a["token_id"] for a in before.values())
            out["snapshot_before"] = _snapshot(http, token_ids)
            out["ready_before"] = http.get("/readyz").json()
        out["sigterm_exit"] = server.stop()
        server.start()
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            out["after"] = {
                i: http.get(f"/v1/awards/{i}", headers={"Authorization": f"Bearer {key}"}).json() for i in ids
            }
            out["snapshot_after"] = _snapshot(http, token_ids)
            out["ready_after"] = http.get("/readyz").json()
            replay = post_award(http, key, "first-0", award_body(0))
            out["replay"] = (replay.status_code, replay.headers.get("Idempotent-Replayed"), replay.json()["id"])
            new_id = post_award(http, key, "after-restart", award_body(FIRST)).json()["id"]
            out["new"] = wait_confirmed(http, key, [new_id], timeout=30)[new_id]
        out["second_exit"] = server.stop()
    finally:
        if server.running:
            server.kill()
    return out


def test_a_sigterm_stops_the_server_cleanly(restarted):
    # uvicorn shuts down gracefully, then raises the signal again so that a supervisor sees why it ended.
    assert restarted["sigterm_exit"] in (0, -signal.SIGTERM)
    assert restarted["second_exit"] in (0, -signal.SIGTERM)
    logs = sorted(restarted["data_dir"].glob("server-*.log"))
    assert len(logs) == 2
    assert not [p.name for p in logs if "Traceback" in p.read_text("utf-8")]


def test_the_awards_keep_their_token_ids_and_contract(restarted):
    before, after = restarted["before"], restarted["after"]
    keep = ("status", "token_id", "contract_address", "chain_id", "tx_hash", "block_number", "content_hash")
    assert {i: {k: a[k] for k in keep} for i, a in after.items()} == {
        i: {k: a[k] for k in keep} for i, a in before.items()
    }
    assert sorted(a["token_id"] for a in after.values()) == list(range(1, FIRST + 1))


def test_the_same_contract_is_served_after_the_restart(restarted):
    chain_before = restarted["ready_before"]["checks"]["chain"]
    chain_after = restarted["ready_after"]["checks"]["chain"]
    assert restarted["ready_after"]["ready"] is True
    assert chain_after["contract_address"] == chain_before["contract_address"]
    assert chain_after["chain_id"] == chain_before["chain_id"]
    assert chain_after["block"] >= chain_before["block"]


def test_wallets_are_the_same_after_the_restart(restarted):
    before, after = restarted["snapshot_before"]["wallets"], restarted["snapshot_after"]["wallets"]
    assert after == before
    assert sum(total for _, total, _ in after.values()) == FIRST


def test_metadata_is_served_and_verified_after_the_restart(restarted):
    assert restarted["snapshot_after"]["metadata"] == restarted["snapshot_before"]["metadata"]
    assert len(restarted["snapshot_after"]["metadata"]) == FIRST


def test_an_idempotency_key_is_remembered_across_the_restart(restarted):
    assert restarted["replay"] == (202, "true", restarted["ids"][0])


def test_a_new_award_takes_the_next_token_id(restarted):
    new = restarted["new"]
    assert new["token_id"] == FIRST + 1
    assert new["contract_address"] == restarted["before"][restarted["ids"][0]]["contract_address"]


def test_the_chain_file_holds_every_award_once(restarted):
    data_dir: Path = restarted["data_dir"]
    address = restarted["ready_after"]["checks"]["chain"]["contract_address"]
    with Chain.embedded(path=data_dir / "chain.db") as chain:
        client = KudosClient.attach(chain, address)
        events = awarded_events(chain, client)
        assert client.total_awarded() == FIRST + 1
        owners = {t: client.kudos(t).owner for t, _ in events}
    assert [t for t, _ in events] == list(range(1, FIRST + 2))
    assert len({r for _, r in events}) == FIRST + 1
    by_token = {a["token_id"]: a["recipient"] for a in restarted["before"].values()}
    assert {t: owners[t] for t in by_token} == by_token


def test_a_second_server_on_the_same_data_dir_is_refused(servers: NewServer, tmp_path):
    first = servers(tmp_path).start()
    second = servers(tmp_path)
    with pytest.raises(ServerError, match=r"exited with code 1") as info:
        second.start()
    assert "Traceback" not in second.log_tail(200)
    assert f"the embedded chain at {tmp_path / 'chain.db'} is already open in process {first.pid}" in str(info.value)
    assert first.running
