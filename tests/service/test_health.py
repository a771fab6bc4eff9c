"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from kudos_service.chain_access import ChainContext
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text as sql

from kudos_chain import Signer
from tests.service.conftest import CONFIRM_TIMEOUT, Service, award_body, start_service


def test_healthz(service: Service):
    response = service.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_chain_the_database_the_signer_and_delivery(service: Service):
    response = service.client.get("/readyz")

    assert response.status_code == 200, response.text
    ready = response.json()
    assert ready["ready"] is True
    checks = ready["checks"]
    assert set(checks) == {"chain", "database", "signer", "delivery"}
    assert all(check["ok"] is True for check in checks.values())
    ctx = service.ctx
    assert checks["chain"]["chain_id"] == ctx.chain_id
    assert checks["chain"]["contract_address"] == ctx.client.address
    assert checks["chain"]["block"] >= 1
    assert checks["signer"]["address"] == ctx.chain.dev_accounts[0].address
    assert checks["signer"]["balance_wei"] > 0
    assert checks["delivery"]["queue_depth"] == 0


def _send_all(ctx: ChainContext, sender: Signer, to: str, *, keep: int = 0) -> None:
    """Send everything ``sender`` holds but ``keep`` wei to ``to``, in a legacy transaction (its fee is exactly
    21,000 x gas price), and wait for it to be mined."""
    w3 = ctx.chain.w3
    gas_price = 2 * int(w3.eth.get_block("latest")["baseFeePerGas"])
    value = ctx.chain.balance(sender.address) - 21_000 * gas_price - keep
    tx = {
        "to": to,
        "value": value,
        "gas": 21_000,
        "gasPrice": gas_price,
        "nonce": ctx.chain.pending_nonce(sender.address),
        "chainId": ctx.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1


def test_an_unfunded_signer_holds_awards_queued_and_makes_readyz_503_until_funded(tmp_path: Path):
    """The signer really spends all it holds: /readyz is 503 and names it, an award accepted meanwhile stays
    queued (never failed), and once the signer is funded again the award is delivered and /readyz is 200."""
    with start_service(tmp_path) as service:
        ctx = service.ctx
        faucet = ctx.chain.dev_accounts[1]
        _send_all(ctx, ctx.signer, faucet.address)
        assert ctx.chain.balance(ctx.signer.address) == 0

        response = service.client.get("/readyz")
        assert response.status_code == 503
        signer = response.json()["checks"]["signer"]
        assert signer["ok"] is False
        assert signer["balance_wei"] == 0
        assert ctx.signer.address in signer["error"]
        assert "holds 0 ETH" in signer["error"]
        assert response.json()["checks"]["chain"]["ok"] is True
        assert response.json()["checks"]["database"]["ok"] is True

        accepted = service.post_award()
        assert accepted.status_code == 202, accepted.text
        award_id = accepted.json()["id"]
        deadline = time.monotonic() + 10
        while "holds 0 ETH" not in str(service.client.get(f"/v1/awards/{award_id}", headers=service.auth()).json()):
            assert time.monotonic() < deadline, "the award never said why it waits"
            time.sleep(0.05)
        waiting = service.client.get(f"/v1/awards/{award_id}", headers=service.auth()).json()
        assert waiting["status"] == "queued"

        _send_all(ctx, faucet, ctx.signer.address, keep=10**18)
        assert service.wait_confirmed(award_id)["status"] == "confirmed"
        assert service.client.get("/readyz").status_code == 200


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_awards_by_status_the_queue_and_the_confirmation_time(service: Service):
    for _ in range(2):
        service.award_confirmed(award_body())

    response = service.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(r'^kudos_awards\{status="confirmed"\} [1-9]', text, re.MULTILINE)
    samples = metric_samples(text)
    with service.state.db.engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(sql("SELECT status, count(*) FROM awards GROUP BY status")).all())
    for status in ("queued", "submitted", "confirmed", "failed"):
        assert samples[("kudos_awards", (("status", status),))] == counts.get(status.upper(), 0)
    assert samples[("kudos_queue_depth", ())] == counts.get("QUEUED", 0)
    assert samples[("kudos_award_confirmation_seconds_count", ())] >= 2
    assert samples[("kudos_award_confirmation_seconds_sum", ())] > 0
    assert samples[("kudos_award_confirmation_seconds_bucket", (("le", "+Inf"),))] >= 2
    assert "# TYPE kudos_award_confirmation_seconds histogram" in text


def test_metrics_count_the_kudos_held_and_the_mails_kept(service: Service):
    def held_and_kept() -> tuple[float, float]:
        samples = metric_samples(service.client.get("/metrics").text)
        return samples[("kudos_held", ())], samples[("kudos_mails", (("status", "kept"),))]

    held, kept = held_and_kept()
    service.award_confirmed(award_body(recipient={"email": f"m.{os.urandom(4).hex()}@example.com"}))
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while held_and_kept() != (held + 1, kept + 1):  # no mail server: the claim email is kept
        assert time.monotonic() < deadline, held_and_kept()
        time.sleep(0.05)
    assert metric_samples(service.client.get("/metrics").text)[("kudos_mails", (("status", "sent"),))] == 0
