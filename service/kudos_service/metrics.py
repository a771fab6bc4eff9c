"""Prometheus metrics: awards by status, the queue depth, the kudos held for people without a wallet and the mail
outbox by status (read from the database at each scrape), and the time from accepted to confirmed."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from kudos_service.core.db import Database
from kudos_service.models import Award, AwardStatus, Mail, MailStatus, still_held

__all__ = ["Metrics"]


class _AwardCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.session() as session:
            counts = dict(session.execute(select(Award.status, func.count()).group_by(Award.status)).all())
        by_status = GaugeMetricFamily("kudos_awards", "Awards by status.", labels=["status"])
        for status in AwardStatus:
            by_status.add_metric([status.value], float(counts.get(status, 0)))
        yield by_status
        yield GaugeMetricFamily(
            "kudos_queue_depth",
            "Awards accepted and not yet sent to the chain.",
            value=float(counts.get(AwardStatus.QUEUED, 0)),
        )
        with self.db.session() as session:
            held = session.scalar(select(func.count()).select_from(Award).where(*still_held()))
            mails = dict(session.execute(select(Mail.status, func.count()).group_by(Mail.status)).all())
        yield GaugeMetricFamily(
            "kudos_held", "Kudos held for people without a wallet, not yet claimed.", value=float(held or 0)
        )
        by_mail = GaugeMetricFamily("kudos_mails", "Emails of the mail outbox by status.", labels=["status"])
        for mail_status in MailStatus:
            by_mail.add_metric([mail_status.value], float(mails.get(mail_status, 0)))
        yield by_mail


class Metrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_AwardCollector(db))
        self.confirmation_seconds = Histogram(
            "kudos_award_confirmation_seconds",
            "Time from an award's acceptance to its confirmation on chain.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self.signer_balance = Gauge(
            "kudos_signer_balance_wei", "The signer's balance, as last read.", registry=self.registry
        )
        self.in_flight = Gauge(
            "kudos_transactions_in_flight", "Transactions sent and not yet mined.", registry=self.registry
        )
        self.replacements = Counter(
            "kudos_transaction_replacements",
            "Transactions signed again at their nonce with higher fees.",
            registry=self.registry,
        )
        self.reorgs = Counter(
            "kudos_reorgs", "Reorgs that removed a block holding an operation of the outbox.", registry=self.registry
        )
        self.head_block = Gauge("kudos_head_block", "The chain's newest block, as last read.", registry=self.registry)
        self.indexed_block = Gauge(
            "kudos_indexed_block", "The newest block in the wallet index.", registry=self.registry
        )
        self.head_lag = Gauge(
            "kudos_head_lag_blocks",
            "Blocks between the chain's head and the wallet index.",
            registry=self.registry,
        )
        self.head_lag.set_function(lambda: max(0.0, self._value(self.head_block) - self._value(self.indexed_block)))

    @staticmethod
    def _value(gauge: Gauge) -> float:
        return float(gauge._value.get())
