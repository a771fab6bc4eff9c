"""kudos_chain.testing.plugin as a user meets it: a test suite of their own (made with ``pytester``) that enables it
in its conftest.py, run by pytest, whose outcomes and messages are checked here.

The suites run in this process (``runpytest``), except the one that simulates an installation without the
service's extra, which needs a fresh interpreter (``runpytest_subprocess``).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import kudos_chain.testing
from kudos_chain.testing import ANVIL_ENV_VAR
from kudos_chain.testing import plugin as kudos_plugin

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = 'pytest_plugins = ["kudos_chain.testing.plugin"]\n'

#: The inner runs: no cache directory, and the reason of every skip in the summary.
ARGS = ("-p", "no:cacheprovider", "-rs")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's test directory whose conftest.py enables the plugin."""
    pytester.makeconftest(CONFTEST)
    return pytester


# ----------------------------------------------------------------------------------------------------------------
# The embedded chain
# ----------------------------------------------------------------------------------------------------------------


def test_each_test_gets_a_new_embedded_chain_with_a_token_of_its_own(suite: pytest.Pytester):
    suite.makepyfile(
        test_embedded="""
        import pytest
        from kudos_chain import Chain, KudosClient
        from kudos_chain.testing.plugin import BASE_URI

        @pytest.mark.parametrize("run", [1, 2])
        def test_award(kudos_embedded_chain, kudos_token, run):
            assert isinstance(kudos_embedded_chain, Chain) and kudos_embedded_chain.name == "embedded"
            assert isinstance(kudos_token, KudosClient) and kudos_token.chain is kudos_embedded_chain
            admin, alice = kudos_embedded_chain.dev_accounts[:2]
            assert kudos_token.signer.address == admin.address
            award = kudos_token.award(alice.address, kind=1, content_hash=bytes(32), request_id=f"run-{run}")
            assert kudos_token.kudos(award.token_id).owner == alice.address
            assert kudos_token.total_awarded() == 1  # nothing of the other run is here
            assert kudos_token.kudos(award.token_id).token_uri == BASE_URI + str(award.token_id)
        """
    )
    suite.runpytest(*ARGS).assert_outcomes(passed=2)


# ----------------------------------------------------------------------------------------------------------------
# anvil
# ----------------------------------------------------------------------------------------------------------------


def test_one_anvil_node_serves_the_session_and_each_test_deploys_its_own_token(
    suite: pytest.Pytester, kudos_anvil_binary: Path
):
    suite.makepyfile(
        test_anvil="""
        import pytest
        from kudos_chain.testing import AnvilNode

        seen = []

        @pytest.mark.parametrize("run", [1, 2])
        def test_award(kudos_anvil, kudos_anvil_chain, kudos_anvil_token, run):
            assert isinstance(kudos_anvil, AnvilNode) and kudos_anvil.running
            assert kudos_anvil_chain.chain_id == kudos_anvil.chain_id
            assert len(kudos_anvil_chain.dev_accounts) == 10
            alice = kudos_anvil_chain.dev_accounts[1]
            award = kudos_anvil_token.award(alice.address, kind=1, content_hash=bytes(32), request_id="r")
            assert kudos_anvil_token.kudos(award.token_id).owner == alice.address
            assert kudos_anvil_token.total_awarded() == 1
            seen.append((kudos_anvil.url, kudos_anvil_token.address, kudos_anvil_token.signer.address))

        def test_the_node_was_shared_and_nothing_else():
            (url_1, token_1, admin_1), (url_2, token_2, admin_2) = seen
            assert url_1 == url_2
            assert token_1 != token_2 and admin_1 != admin_2
        """
    )
    suite.runpytest(*ARGS).assert_outcomes(passed=3)


def test_without_anvil_the_tests_that_need_it_are_skipped_naming_where_it_was_looked_for(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    missing = tmp_path / "no-such-anvil"
    monkeypatch.setenv(ANVIL_ENV_VAR, str(missing))
    suite.makepyfile(
        test_mixed="""
        def test_on_anvil(kudos_anvil_token):
            raise AssertionError("never runs")

        def test_on_the_node(kudos_anvil):
            raise AssertionError("never runs")

        def test_embedded(kudos_token):
            assert kudos_token.total_awarded() == 0
        """
    )
    result = suite.runpytest(*ARGS)
    result.assert_outcomes(passed=1, skipped=2)
    reason = f"kudos_anvil: anvil was not found (tried {missing} (KUDOS_ANVIL)): install Foundry's anvil"
    result.stdout.fnmatch_lines(
        [f"SKIPPED [[]1[]] test_mixed.py:{line}: {reason} (https://getfoundry.sh*" for line in (1, 4)]
    )


# ----------------------------------------------------------------------------------------------------------------
# kudos serve
# ----------------------------------------------------------------------------------------------------------------


def test_without_the_service_extra_the_server_fixtures_fail_naming_the_extra(pytester: pytest.Pytester):
    pytester.makeconftest(
        """
        import sys

        sys.modules["fastapi"] = None  # as where kudos-chain was installed without its service extra

        pytest_plugins = ["kudos_chain.testing.plugin"]
        """
    )
    pytester.makepyfile(
        test_service="""
        def test_server(kudos_server):
            raise AssertionError("never runs")

        def test_key(kudos_api_key):
            raise AssertionError("never runs")

        def test_embedded(kudos_token):
            assert kudos_token.total_awarded() == 0
        """
    )
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1, errors=2)
    message = (
        "kudos_server: kudos serve needs kudos-chain's service, whose dependencies are not installed "
        "(no module named 'fastapi'): pip install 'kudos-chain[service]'"
    )
    assert result.stdout.str().count(message) >= 2, result.stdout.str()  # once for each test, at least
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()  # one message, not a chain of exceptions


def test_a_module_asks_for_the_scopes_of_its_key(suite: pytest.Pytester):
    suite.makepyfile(
        test_revoke="""
        import httpx2
        import pytest
        from kudos_chain.testing import KudosServer

        ALICE = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"

        @pytest.fixture(scope="module")
        def kudos_api_key_scopes():
            return ("award", "revoke")

        @pytest.fixture(scope="module")
        def kudos_server_env():
            return {"KUDOS_BATCH_MAX_WAIT_MS": "0"}

        def test_award_then_revoke(kudos_server, kudos_api_key):
            assert isinstance(kudos_server, KudosServer) and kudos_server.running
            auth = {"Authorization": f"Bearer {kudos_api_key}"}
            with httpx2.Client(base_url=kudos_server.url, headers=auth, timeout=40) as http:
                body = {"recipient": ALICE, "kind": "mentor", "message": "Thanks", "awarded_by": "Grace"}
                accepted = http.post("/v1/awards", json=body, headers={"Idempotency-Key": "a-1"})
                assert accepted.status_code == 202, accepted.text
                award = http.get(f"/v1/awards/{accepted.json()['id']}", params={"wait": 30}).json()
                assert award["status"] == "confirmed", award
                revoked = http.post(f"/v1/tokens/{award['token_id']}/revoke", json={"reason": "mistake"})
                assert revoked.status_code == 202, revoked.text

        def test_the_server_keeps_its_data_in_a_temporary_directory(kudos_server, tmp_path_factory):
            assert kudos_server.data_dir.parent == tmp_path_factory.getbasetemp()
        """
    )
    suite.runpytest(*ARGS).assert_outcomes(passed=2)


def readme_example() -> dict[str, str]:
    """The files of the README's "Testing your integration": each Python block there begins with ``# <file>``."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Testing your integration\n", 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        name, _, body = block.partition("\n")
        assert re.fullmatch(r"# [a-z_]+\.py", name), f"a block of the example does not begin with its file: {name}"
        files[name.removeprefix("# ")] = body
    return files


def test_the_readme_integration_example_passes_as_written(pytester: pytest.Pytester):
    files = readme_example()
    assert set(files) == {"conftest.py", "hr_integration.py", "test_hr_integration.py"}
    assert files["conftest.py"].strip() == CONFTEST.strip()
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text, "utf-8")
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=1)


# ----------------------------------------------------------------------------------------------------------------
# The public surface
# ----------------------------------------------------------------------------------------------------------------


def test_every_fixture_is_prefixed_documented_and_exported():
    fixtures = {
        name: value
        for name, value in vars(kudos_plugin).items()
        if hasattr(value, "_fixture_function_marker") or type(value).__name__ == "FixtureFunctionDefinition"
    }
    assert fixtures, "no fixture found in the plugin"
    assert set(fixtures) == set(kudos_plugin.__all__) - {"BASE_URI"}
    for name, fixture in fixtures.items():
        assert name.startswith("kudos_"), name
        assert inspect.getdoc(fixture), f"{name} has no docstring"
        assert f"``{name}``" in (kudos_plugin.__doc__ or ""), f"{name} is not in the plugin's table"


def test_every_exported_name_of_kudos_chain_testing_exists_and_is_documented():
    public = {name for name in dir(kudos_chain.testing) if not name.startswith("_")}
    assert public - {"plugin"} == set(kudos_chain.testing.__all__)
    for name in kudos_chain.testing.__all__:
        member = getattr(kudos_chain.testing, name)
        if callable(member):
            assert member.__doc__, f"{name} has no docstring"
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, kudos_chain.KudosError), name
