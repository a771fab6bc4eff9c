"""kudos_service: the HTTP service over kudos_chain.

HR tools award kudos over HTTP with idempotency keys; a worker in the same process joins waiting awards into
batch transactions and delivers each exactly once; people read their wallets. Start it with ``kudos serve``.
"""

__all__: list[str] = []
