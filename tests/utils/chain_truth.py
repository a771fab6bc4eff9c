"""What the chain itself holds, read over plain JSON-RPC, to hold the service's answers against::

    problems = exactly_once_problems(node.url, contract, awards, revoked=[token_id])
    assert_exactly_once(node.url, contract, awards)

Nothing here uses ``kudos_chain`` or the service: the events are decoded from their topics by hand, so a bug in
the library's event API cannot hide the same bug in the service. ``awards`` are the API's views of awards
(``GET /v1/awards/{id}``); an award's request id on chain is keccak256 of its id, topic 2 of
``KudosAwarded(uint256 indexed tokenId, bytes32 indexed requestId, bytes32 contentHash)`` (topic 1 is the token
id).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import httpx2
from eth_utils.crypto import keccak

__all__ = [
    "KUDOS_AWARDED_TOPIC",
    "KUDOS_REVOKED_TOPIC",
    "ChainTruthError",
    "assert_exactly_once",
    "awarded_on_chain",
    "exactly_once_problems",
    "owners_of",
    "request_id",
    "revoked_on_chain",
    "rpc",
]

KUDOS_AWARDED_TOPIC = "0x" + keccak(text="KudosAwarded(uint256,bytes32,bytes32)").hex()
KUDOS_REVOKED_TOPIC = "0x" + keccak(text="KudosRevoked(uint256,uint32)").hex()

#: ``ownerOf(uint256)``.
_OWNER_OF = keccak(text="ownerOf(uint256)")[:4].hex()

#: Blocks per ``eth_getLogs`` request (the library pages at 2,000 as well).
_PAGE_BLOCKS = 2_000

#: Calls per JSON-RPC batch.
_BATCH = 200

_ids = itertools.count(1)


class ChainTruthError(RuntimeError):
    """The node answered a request with an error."""


def request_id(award_id: str) -> bytes:
    """The request id an award carries on chain: keccak256 of its id."""
    return keccak(text=award_id)


def rpc(url: str, method: str, params: Sequence[Any] = (), *, timeout: float = 30.0) -> Any:
    """Call one JSON-RPC method and return its result.

    :raises ChainTruthError: when the node answers with an error.
    """
    answer = httpx2.post(
        url, json={"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}, timeout=timeout
    ).json()
    if "error" in answer:
        raise ChainTruthError(f"{method} failed: {answer['error']}")
    return answer["result"]


def _batch(url: str, calls: Sequence[tuple[str, Sequence[Any]]], *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Each call's answer (``result`` or ``error``), in the order of ``calls``."""
    answers: list[dict[str, Any]] = []
    for start in range(0, len(calls), _BATCH):
        chunk = calls[start : start + _BATCH]
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(chunk)]
        by_id = {a["id"]: a for a in httpx2.post(url, json=body, timeout=timeout).json()}
        answers += [by_id[i] for i in range(len(chunk))]
    return answers


def _logs(url: str, contract: str, topic: str, from_block: int) -> list[dict[str, Any]]:
    head = int(rpc(url, "eth_blockNumber"), 16)
    logs: list[dict[str, Any]] = []
    for start in range(from_block, head + 1, _PAGE_BLOCKS):
        end = min(start + _PAGE_BLOCKS - 1, head)
        page = rpc(
            url,
            "eth_getLogs",
            [{"address": contract, "topics": [topic], "fromBlock": hex(start), "toBlock": hex(end)}],
        )
        logs += [log for log in page if not log.get("removed", False)]
    return logs


def awarded_on_chain(url: str, contract: str, *, from_block: int = 0) -> dict[bytes, list[int]]:
    """Every ``KudosAwarded`` event of ``contract`` on the node's canonical chain: request id → token ids, in
    chain order (one token id each, when every award is on chain once)."""
    out: dict[bytes, list[int]] = {}
    for log in _logs(url, contract, KUDOS_AWARDED_TOPIC, from_block):
        token_id = int(log["topics"][1], 16)
        out.setdefault(bytes.fromhex(log["topics"][2][2:]), []).append(token_id)
    return out


def revoked_on_chain(url: str, contract: str, *, from_block: int = 0) -> dict[int, int]:
    """How many ``KudosRevoked`` events each token id has on the node's canonical chain."""
    out: dict[int, int] = {}
    for log in _logs(url, contract, KUDOS_REVOKED_TOPIC, from_block):
        token_id = int(log["topics"][1], 16)
        out[token_id] = out.get(token_id, 0) + 1
    return out


def owners_of(url: str, contract: str, token_ids: Iterable[int]) -> dict[int, str | None]:
    """Each token's owner (checksum-free, lowercase), or None where ``ownerOf`` reverts (no such token)."""
    ids = list(token_ids)
    calls = [("eth_call", [{"to": contract, "data": "0x" + _OWNER_OF + f"{t:064x}"}, "latest"]) for t in ids]
    owners: dict[int, str | None] = {}
    for token_id, answer in zip(ids, _batch(url, calls), strict=True):
        result = answer.get("result")
        owners[token_id] = None if "error" in answer or not result or len(result) < 66 else "0x" + result[-40:]
    return owners


def exactly_once_problems(
    url: str,
    contract: str,
    awards: Iterable[Mapping[str, Any]],
    *,
    revoked: Collection[int] = (),
    foreign: Collection[bytes] = (),
    from_block: int = 0,
) -> list[str]:
    """Every way the chain and the service's ``awards`` disagree (empty when they agree):

    - each award is ``confirmed``, and on chain exactly once by its request id;
    - its ``token_id`` in the API is the chain's;
    - the token is owned by its recipient, unless its token id is in ``revoked``: then it has no owner any more
      and exactly one ``KudosRevoked`` event;
    - no request id is on chain that is not one of ``awards`` (or of ``foreign``: awards a test made itself).
    """
    views = list(awards)
    chain = awarded_on_chain(url, contract, from_block=from_block)
    problems: list[str] = []
    expected: dict[bytes, Mapping[str, Any]] = {request_id(a["id"]): a for a in views}
    for rid, award in expected.items():
        tokens = chain.get(rid, [])
        where = f"award {award['id']} ({award.get('status')}, API token id {award.get('token_id')})"
        if len(tokens) != 1:
            problems.append(f"{where} is on chain {len(tokens)} times: token ids {tokens}")
            continue
        if award.get("status") != "confirmed":
            problems.append(f"{where} is on chain as token {tokens[0]} but not confirmed in the API")
        elif award.get("token_id") != tokens[0]:
            problems.append(f"{where} is token {tokens[0]} on chain")
    unknown = {rid: tokens for rid, tokens in chain.items() if rid not in expected and rid not in foreign}
    for rid, tokens in unknown.items():
        problems.append(f"request id 0x{rid.hex()} (token ids {tokens}) is on chain but not an accepted award")
    by_token = {tokens[0]: expected[rid] for rid, tokens in chain.items() if rid in expected and len(tokens) == 1}
    owners = owners_of(url, contract, by_token)
    revocations = revoked_on_chain(url, contract, from_block=from_block) if revoked else {}
    for token_id, award in by_token.items():
        owner = owners[token_id]
        if token_id in revoked:
            if owner is not None:
                problems.append(f"token {token_id} (award {award['id']}) was revoked but is owned by {owner}")
            if revocations.get(token_id, 0) != 1:
                problems.append(f"token {token_id} was revoked {revocations.get(token_id, 0)} times on chain")
        elif owner is None or owner.lower() != str(award["recipient"]).lower():
            problems.append(f"token {token_id} (award {award['id']}) is owned by {owner}, not {award['recipient']}")
    for token_id in set(revoked) - set(by_token):
        problems.append(f"revoked token {token_id} is not the token of any of the awards given")
    return problems


def assert_exactly_once(
    url: str,
    contract: str,
    awards: Iterable[Mapping[str, Any]],
    *,
    revoked: Collection[int] = (),
    foreign: Collection[bytes] = (),
    from_block: int = 0,
) -> None:
    """:func:`exactly_once_problems` as an assertion that lists every problem (the first 20)."""
    problems = exactly_once_problems(url, contract, awards, revoked=revoked, foreign=foreign, from_block=from_block)
    shown = "\n  ".join(problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    assert not problems, f"{len(problems)} disagreements between the API and the chain:\n  {shown}{more}"
