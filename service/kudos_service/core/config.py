"""Settings, from the environment (``KUDOS_*``) and the command line.

With no configuration the service runs on the embedded chain with its data under a per-user directory. A real
chain needs ``KUDOS_RPC_URL``, ``KUDOS_CONTRACT_ADDRESS`` and a signer keystore; each missing or placeholder
setting is named when the service refuses to start.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from kudos_service.mail import SmtpConfig

__all__ = ["Settings", "SettingsError", "default_data_dir"]

#: The SMTP port of each kind of connection, when ``KUDOS_SMTP_PORT`` is not set.
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}

#: Chain ids of development nodes (anvil and hardhat; geth --dev and ganache), which mine at once and do not
#: reorganize by themselves: awards on them are confirmed at their first block.
DEV_CHAIN_IDS = frozenset({31337, 1337})

#: Confirmations on a real chain: 12 blocks is 2.4 minutes on Ethereum (a reorg deeper than a few blocks has not
#: happened since the merge; finality takes about 13 minutes) and 24 seconds on a 2-second L2.
DEFAULT_CONFIRMATIONS = 12

_PLACEHOLDERS = {"", "changeme", "change-me", "changethis", "secret", "password", "todo", "xxx", "0x..."}


class SettingsError(ValueError):
    """Settings the service cannot start with; the message names every one."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/kudos-chain``, or ``~/.local/share/kudos-chain``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kudos-chain"


class Settings(BaseSettings):
    """Every setting of the service; each is read from ``KUDOS_<NAME>`` too."""

    model_config = SettingsConfigDict(env_prefix="KUDOS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str | None = None
    database_url: str | None = None

    rpc_url: SecretStr | None = None
    chain_id: int | None = None
    contract_address: str | None = None
    contract_from_block: int = 0
    signer_keystore: Path | None = None
    signer_password: SecretStr | None = None
    signer_password_file: Path | None = None
    max_fee_per_gas: int | None = None

    slack_signing_secret: SecretStr | None = None  # the Slack app's Signing Secret; None: no /integrations/slack
    #: How long the service trusts an API key it read without reading it again: a key revoked from another
    #: process (``kudos keys revoke``, another host) is refused at most this many seconds later.
    api_key_cache_s: Annotated[float, Field(ge=0, le=300)] = 5.0

    batch_max_size: Annotated[int, Field(ge=1, le=200)] = 100
    batch_max_wait_ms: Annotated[int, Field(ge=0, le=60_000)] = 200
    worker_poll_ms: Annotated[int, Field(ge=5, le=10_000)] = 50
    receipt_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    index_reorg_depth: Annotated[int, Field(ge=0)] = 64
    run_worker: bool = True

    #: Blocks after which an award reads ``confirmed``; None: 0 on the embedded chain and on development chains
    #: (:data:`DEV_CHAIN_IDS`), :data:`DEFAULT_CONFIRMATIONS` on any other.
    confirmations: Annotated[int | None, Field(ge=0, le=10_000)] = None
    #: Transactions signed and sent but not yet mined, at most (and never more gas than the chain mines in
    #: ``replace_after_blocks - 1`` blocks).
    max_in_flight: Annotated[int, Field(ge=1, le=1_000)] = 32
    #: A transaction not mined this many blocks after it was sent is signed again with higher fees.
    replace_after_blocks: Annotated[int, Field(ge=1, le=10_000)] = 3
    #: A transaction without a receipt this long after it was sent is sent again (a node that dropped it).
    resend_after_s: Annotated[float, Field(gt=0, le=3_600)] = 3.0
    #: How often the chain's genesis hash and the contract's code are compared with what the service stored.
    chain_check_s: Annotated[float, Field(gt=0, le=3_600)] = 5.0

    #: The mail server emails go through (claim links for people without a wallet); None: emails are kept for
    #: admins to read, and sent once a server is set.
    smtp_host: str | None = None
    smtp_port: Annotated[int | None, Field(ge=1, le=65535)] = None  # None: 587, 465 or 25 by smtp_security
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (plain, for a relay on localhost).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    #: The sender of every email, ``Name <address>`` or an address.
    mail_from: str | None = None
    #: How long a claim link (``/claim/{token}``) works, in days.
    claim_link_days: Annotated[int, Field(ge=1, le=365)] = 30
    #: Claim attempts (a signed message sent) one link, or one client address, may make per minute.
    claim_attempts_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 10

    #: The largest request body with an API key: a batch of 1,000 awards with the longest texts fits.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 6 * 1024 * 1024
    #: The largest request body without one (public pages take none; a Slack command is about 1 KB).
    max_anonymous_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    #: How deep the arrays and objects of a JSON body may nest (an award batch nests 3 levels).
    max_json_depth: Annotated[int, Field(ge=4, le=200)] = 32

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_real_chain(self) -> Settings:
        if self.rpc_url is None:
            return self
        problems = []
        if not self.contract_address or self.contract_address.lower() in _PLACEHOLDERS:
            problems.append("KUDOS_CONTRACT_ADDRESS (the KudosToken to serve) is missing")
        if self.signer_keystore is None or str(self.signer_keystore).lower() in _PLACEHOLDERS:
            problems.append("KUDOS_SIGNER_KEYSTORE (the minter's encrypted keystore file) is missing")
        password = self.signer_password.get_secret_value() if self.signer_password else None
        if self.signer_password_file is None and (password is None or password.lower() in _PLACEHOLDERS):
            problems.append(
                "KUDOS_SIGNER_PASSWORD or KUDOS_SIGNER_PASSWORD_FILE (the keystore's password) is missing "
                "or a placeholder"
            )
        if problems:
            raise SettingsError("cannot serve a real chain: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _check_mail(self) -> Settings:
        if self.smtp_host is None:
            return self
        problems = []
        if not self.mail_from:
            problems.append("KUDOS_MAIL_FROM (the sender of the emails) is missing")
        if self.smtp_user is not None and self.smtp_password is None:
            problems.append("KUDOS_SMTP_PASSWORD is missing for KUDOS_SMTP_USER")
        if problems:
            raise SettingsError("cannot send email: " + "; ".join(problems))
        return self

    def smtp(self) -> SmtpConfig | None:
        """How the mailer reaches the mail server; None without ``KUDOS_SMTP_HOST``."""
        from kudos_service.mail import SmtpConfig  # noqa: PLC0415 (it needs the database: imported when used)

        if self.smtp_host is None or self.mail_from is None:
            return None
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port or SMTP_PORTS[self.smtp_security],
            security=self.smtp_security,
            username=self.smtp_user,
            password=self.smtp_password,
            sender=self.mail_from,
        )

    def confirmations_for(self, chain_id: int) -> int:
        """The confirmations awards need on chain ``chain_id`` (see :attr:`confirmations`)."""
        if self.confirmations is not None:
            return self.confirmations
        return 0 if self.embedded or chain_id in DEV_CHAIN_IDS else DEFAULT_CONFIRMATIONS

    def reorg_depth_for(self, chain_id: int) -> int:
        """How many recent blocks are checked for reorgs on chain ``chain_id``: :attr:`index_reorg_depth`, and
        never fewer than a block needs to be confirmed and one more. One window for the outbox's tracking, its
        search for what a used nonce mined and the wallet index, so none of them follows a reorg the others
        cannot."""
        return max(self.index_reorg_depth, self.confirmations_for(chain_id) + 1)

    @property
    def embedded(self) -> bool:
        """True when the service runs its own py-evm chain."""
        return self.rpc_url is None

    @cached_property
    def base_url(self) -> str:
        """The public URL of this service, where wallets and token URIs point."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL; SQLite under the data directory by default."""
        return self.database_url or f"sqlite:///{self.data_dir / 'kudos.db'}"

    @property
    def chain_path(self) -> Path:
        """Where the embedded chain keeps its blocks."""
        return self.data_dir / "chain.db"

    def signer_password_value(self) -> str:
        """The keystore password, from the setting or its file."""
        if self.signer_password_file is not None:
            return self.signer_password_file.read_text("utf-8").rstrip("\n")
        if self.signer_password is None:
            raise SettingsError("KUDOS_SIGNER_PASSWORD or KUDOS_SIGNER_PASSWORD_FILE is missing")
        return self.signer_password.get_secret_value()
