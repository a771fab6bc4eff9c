"""Moved to :mod:`kudos_chain.testing`; this re-export remains for the tests not yet moved over (the ``kudos`` CLI
tests). Import from ``kudos_chain.testing``."""

from kudos_chain.testing import DEFAULT_CHAIN_ID, AnvilError, AnvilNode, AnvilNotFoundError, find_anvil, free_port

__all__ = ["DEFAULT_CHAIN_ID", "AnvilError", "AnvilNode", "AnvilNotFoundError", "find_anvil", "free_port"]
