"""pytest fixtures for tests of code built on kudos-chain: the embedded chain, an anvil node and ``kudos serve``,
each with a deployed KudosToken.

Enable them in the ``conftest.py`` at the top of your tests::

    pytest_plugins = ["kudos_chain.testing.plugin"]

=========================  ========  ===================================================================================
fixture                    scope     what the test gets
=========================  ========  ===================================================================================
``kudos_embedded_chain``   function  :class:`~kudos_chain.Chain`: py-evm in this process, ten funded ``dev_accounts``
``kudos_token``            function  :class:`~kudos_chain.KudosClient`: a KudosToken on ``kudos_embedded_chain``,
                                     deployed by (and acting as) ``dev_accounts[0]``, which holds every role
``kudos_anvil_binary``     session   the anvil executable (:func:`~kudos_chain.testing.find_anvil`); when there is
                                     none, every test that needs anvil is skipped, naming the places tried
``kudos_anvil``            session   a running :class:`~kudos_chain.testing.AnvilNode`, shared by the session
``kudos_anvil_chain``      function  :class:`~kudos_chain.Chain` connected to ``kudos_anvil``, with its dev accounts
``kudos_anvil_token``      function  :class:`~kudos_chain.KudosClient`: a KudosToken on ``kudos_anvil_chain``,
                                     deployed by (and acting as) a fresh signer funded with 100 ETH, its admin
``kudos_server_env``       module    ``{}``: the server's environment (``KUDOS_*`` settings); override it
``kudos_server``           module    a running :class:`~kudos_chain.testing.KudosServer` (``kudos serve`` on its own
                                     embedded chain, in a temporary data directory); ``.url`` is its base URL
``kudos_api_key_scopes``   module    ``("award",)``: the scopes of ``kudos_api_key``; override it
``kudos_api_key``          module    an API key of ``kudos_server`` with ``kudos_api_key_scopes``
=========================  ========  ===================================================================================

Every fixture is named ``kudos_*``, so none hides one of yours. The tokens' base URI is :data:`BASE_URI`.

Override a fixture as pytest allows, in a ``conftest.py`` or a test module, keeping its scope::

    @pytest.fixture(scope="module")
    def kudos_api_key_scopes() -> tuple[str, ...]:
        return ("award", "revoke")

One server (and one key) serves every test of a module, so give each test awards of its own (a fresh recipient,
its own idempotency keys); another key is ``kudos_server.create_key("admin")``. The server needs kudos-chain's
service (``pip install 'kudos-chain[service]'``); without it, ``kudos_server`` fails naming that command. anvil is
found as :func:`~kudos_chain.testing.find_anvil` says (``KUDOS_ANVIL``, a kudos-chain checkout's pinned copy, or
``anvil`` on ``PATH``); to fail rather than skip without it (in CI), override ``kudos_anvil_binary`` with one that
calls ``pytest.fail``.

The plugin is opt-in rather than a ``pytest11`` entry point: kudos-chain is installed where nobody tests it
(production images, projects that only read kudos), and an entry point would import web3 and py-evm into every
pytest run there and claim fixture names in every suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kudos_chain import Chain, KudosClient, Signer
from kudos_chain.testing._anvil import AnvilError, AnvilNode, AnvilNotFoundError, find_anvil
from kudos_chain.testing._server import KudosServer, ServerError

__all__ = [
    "BASE_URI",
    "kudos_anvil",
    "kudos_anvil_binary",
    "kudos_anvil_chain",
    "kudos_anvil_token",
    "kudos_api_key",
    "kudos_api_key_scopes",
    "kudos_embedded_chain",
    "kudos_server",
    "kudos_server_env",
    "kudos_token",
]

#: The base URI of the tokens the fixtures deploy: token 1's URI is ``BASE_URI + "1"``.
BASE_URI = "https://kudos.example/v1/tokens/"

#: The ETH (in wei) given to the fresh admin of each ``kudos_anvil_token``.
_ADMIN_FUNDS = 100 * 10**18


def _start_or_fail(what: str, start: Callable[[], object], errors: type[Exception]) -> None:
    """Call ``start``; when it raises ``errors``, fail the test with ``what`` and the error's message alone (no
    traceback of the fixture's code, no chained exception)."""
    try:
        start()
    except errors as exc:
        message = f"{what}: {exc}"
    else:
        return
    pytest.fail(message, pytrace=False)


# ----------------------------------------------------------------------------------------------------------------
# The embedded chain
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def kudos_embedded_chain() -> Iterator[Chain]:
    """A new py-evm chain in this process for the test, with ten funded ``dev_accounts``."""
    with Chain.embedded() as chain:
        yield chain


@pytest.fixture
def kudos_token(kudos_embedded_chain: Chain) -> KudosClient:
    """A KudosToken on the test's embedded chain, deployed by ``dev_accounts[0]`` (every role), acting as it."""
    return KudosClient.deploy(kudos_embedded_chain, kudos_embedded_chain.dev_accounts[0], base_uri=BASE_URI)


# ----------------------------------------------------------------------------------------------------------------
# anvil
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kudos_anvil_binary() -> Path:
    """The anvil executable :func:`~kudos_chain.testing.find_anvil` finds; the test is skipped when there is
    none, with the places tried as the reason."""
    try:
        return find_anvil()
    except AnvilNotFoundError as exc:
        reason = f"kudos_anvil: {exc}"
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kudos_anvil(kudos_anvil_binary: Path) -> Iterator[AnvilNode]:
    """One anvil node for the session, on a free loopback port, mining each transaction as it arrives."""
    node = AnvilNode(binary=kudos_anvil_binary)
    _start_or_fail("kudos_anvil: anvil did not start", node.start, AnvilError)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def kudos_anvil_chain(kudos_anvil: AnvilNode) -> Chain:
    """A connection to the session's anvil node, whose ``dev_accounts`` are anvil's funded accounts (shared by
    every test of the session)."""
    chain = Chain.connect(kudos_anvil.url, chain_id=kudos_anvil.chain_id)
    chain.dev_accounts = [Signer.from_key(key) for key in kudos_anvil.private_keys]
    return chain


@pytest.fixture
def kudos_anvil_token(kudos_anvil: AnvilNode, kudos_anvil_chain: Chain) -> KudosClient:
    """A KudosToken of the test's own on the session's anvil node, deployed by a fresh signer (every role; the
    client's ``signer``) funded with 100 ETH: no other test sends with its key."""
    admin = Signer.create()
    kudos_anvil.set_balance(admin.address, _ADMIN_FUNDS)
    return KudosClient.deploy(kudos_anvil_chain, admin, base_uri=BASE_URI)


# ----------------------------------------------------------------------------------------------------------------
# kudos serve
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kudos_server_env() -> Mapping[str, str]:
    """The environment of ``kudos_server`` beyond this process's (whose ``KUDOS_*`` variables are left out):
    none. Override it to set the service's ``KUDOS_*`` settings."""
    return {}


@pytest.fixture(scope="module")
def kudos_server(
    tmp_path_factory: pytest.TempPathFactory, kudos_server_env: Mapping[str, str]
) -> Iterator[KudosServer]:
    """``kudos serve`` for the test module, on its own embedded chain in a temporary data directory, on a free
    loopback port; stopped (SIGTERM) after the module."""
    server = KudosServer(tmp_path_factory.mktemp("kudos-server"), env=kudos_server_env)
    # start() checks first that the service is installed: ServiceNotInstalledError names the extra.
    _start_or_fail("kudos_server", server.start, ServerError)
    try:
        yield server
    finally:
        if server.running:
            server.stop()


@pytest.fixture(scope="module")
def kudos_api_key_scopes() -> tuple[str, ...]:
    """The scopes of ``kudos_api_key``: ``award``. Override it for others (``revoke``, ``admin``)."""
    return ("award",)


@pytest.fixture(scope="module")
def kudos_api_key(kudos_server: KudosServer, kudos_api_key_scopes: tuple[str, ...]) -> str:
    """An API key of ``kudos_server`` with ``kudos_api_key_scopes``, made by ``kudos keys create``."""
    return kudos_server.create_key(*kudos_api_key_scopes)
