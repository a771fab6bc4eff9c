"""Test helpers for code built on kudos-chain: a local anvil node and a ``kudos serve`` process, and (in
:mod:`kudos_chain.testing.plugin`) pytest fixtures around them and around the embedded chain.

An integration that talks to a node over JSON-RPC is tested against a real one::

    from kudos_chain import Chain, KudosClient, Signer
    from kudos_chain.testing import AnvilNode

    with AnvilNode() as node:                       # anvil on a free loopback port, in its own process group
        chain = Chain.connect(node.url, chain_id=node.chain_id)
        admin = Signer.from_key(node.private_keys[0])
        token = KudosClient.deploy(chain, admin)

and one that talks to the service over HTTP against a real service::

    from kudos_chain.testing import KudosServer

    with KudosServer(data_dir) as server:          # `kudos serve` on an embedded chain in data_dir
        key = server.create_key("award")            # `kudos keys create --scope award`
        httpx2.post(f"{server.url}/v1/awards", headers={"Authorization": f"Bearer {key}"}, ...)

The anvil executable is found by :func:`find_anvil`; the server needs ``pip install 'kudos-chain[service]'``.
Nothing here imports pytest: the fixtures are in :mod:`kudos_chain.testing.plugin`, which a test suite enables
with ``pytest_plugins = ["kudos_chain.testing.plugin"]`` in its top ``conftest.py``.

Errors, under :class:`~kudos_chain.KudosError`::

    KudosError
    ├── AnvilError (RuntimeError)              anvil did not start, or answered with an error
    │   └── AnvilNotFoundError                 no anvil executable where find_anvil looks
    └── ServerError (RuntimeError)             kudos serve did not start, or a kudos command failed
        └── ServiceNotInstalledError           the service's extra is not installed
"""

from kudos_chain.testing._anvil import (
    ANVIL_ENV_VAR,
    CHECKOUT_ANVIL,
    DEFAULT_CHAIN_ID,
    AnvilError,
    AnvilNode,
    AnvilNotFoundError,
    find_anvil,
    free_port,
)
from kudos_chain.testing._server import (
    SERVICE_EXTRA,
    KudosServer,
    ServerError,
    ServiceNotInstalledError,
    kudos_command,
    require_service,
)

__all__ = [
    "ANVIL_ENV_VAR",
    "CHECKOUT_ANVIL",
    "DEFAULT_CHAIN_ID",
    "SERVICE_EXTRA",
    "AnvilError",
    "AnvilNode",
    "AnvilNotFoundError",
    "KudosServer",
    "ServerError",
    "ServiceNotInstalledError",
    "find_anvil",
    "free_port",
    "kudos_command",
    "require_service",
]
