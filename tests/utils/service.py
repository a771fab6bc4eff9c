"""Moved to :mod:`kudos_chain.testing`; this re-export remains for the tests not yet moved over (the ``kudos`` CLI
tests). Import from ``kudos_chain.testing``."""

from kudos_chain.testing import KudosServer, ServerError, kudos_command

__all__ = ["KudosServer", "ServerError", "kudos_command"]
