"""Fixtures of the library tests: fresh funded signers and a KudosToken per module, on each chain.

Every signer the library uses here is fresh, so that each has exactly one nonce manager (one
:class:`~kudos_chain.TransactionManager` per key is the library's rule) whatever else the session did on the
same chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from kudos_chain import Chain, KudosClient, Signer
from tests.conftest import fund

BASE_URI = "https://kudos.example/v1/tokens/"

NewSigner = Callable[[], Signer]


@pytest.fixture(scope="session")
def new_signer(chain: Chain) -> NewSigner:
    """A factory of fresh signers, each funded with 100 ETH on ``chain``."""

    def make() -> Signer:
        signer = Signer.create()
        fund(chain, signer.address)
        return signer

    return make


@dataclass(frozen=True)
class Deployment:
    """A KudosToken deployed by ``admin`` (who holds every role), and three fresh wallets."""

    chain: Chain
    client: KudosClient
    admin: Signer
    alice: Signer
    bob: Signer
    outsider: Signer


def funded(chain: Chain) -> Signer:
    """A fresh signer with 1 ETH: plenty for a test, and little from the faucet the whole session shares."""
    signer = Signer.create()
    fund(chain, signer.address, 10**18)
    return signer


def frugal_deployment(chain: Chain) -> Deployment:
    """A KudosToken whose admin, alice and outsider have 1 ETH each (not the 100 of ``deployment``) and whose bob
    has none: for a module of many tests that deploys its own."""
    admin = funded(chain)
    client = KudosClient.deploy(chain, admin, base_uri=BASE_URI)
    return Deployment(chain, client, admin, funded(chain), Signer.create(), funded(chain))


def deploy(chain: Chain, new_signer: NewSigner) -> Deployment:
    admin = new_signer()
    client = KudosClient.deploy(chain, admin, base_uri=BASE_URI)
    return Deployment(chain, client, admin, new_signer(), new_signer(), new_signer())


@pytest.fixture(scope="module")
def deployment(chain: Chain, new_signer: NewSigner) -> Deployment:
    """One KudosToken per module and chain; tests that pause it or change its roles deploy their own."""
    return deploy(chain, new_signer)


@pytest.fixture
def fresh(chain: Chain, new_signer: NewSigner) -> Deployment:
    """A KudosToken of the test's own."""
    return deploy(chain, new_signer)
