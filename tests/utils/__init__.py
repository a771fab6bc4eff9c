"""Helpers shared by the test suites (no fixtures: those live in the conftests and in
:mod:`kudos_chain.testing.plugin`). The anvil node and the ``kudos serve`` process are in :mod:`kudos_chain.testing`,
where users' tests and the benchmark scripts find them too."""
