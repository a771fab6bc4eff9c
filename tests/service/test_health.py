"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text as sql

from tests.service.conftest import Service, award_body


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


def test_readyz_is_503_and_names_a_signer_that_cannot_pay(service: Service, monkeypatch: pytest.MonkeyPatch):
    """A signer that cannot afford a full batch makes the service not ready, with the signer named."""
    monkeypatch.setattr(service.ctx.chain, "balance", lambda address: 0)
    response = service.client.get("/readyz")
    assert response.status_code == 503
    ready = response.json()
    assert ready["ready"] is False
    assert ready["checks"]["signer"]["ok"] is False
    assert ready["checks"]["signer"]["balance_wei"] == 0
    error = ready["checks"]["signer"]["error"]
    assert service.ctx.signer.address in error
    assert "holds 0 ETH" in error
    assert ready["checks"]["chain"]["ok"] is True
    assert ready["checks"]["database"]["ok"] is True


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
