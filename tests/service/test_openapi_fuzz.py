"""Schemathesis against the service's own ``/openapi.json``, in process (ASGI), with an API key of every scope.

The run is what ``schemathesis run`` does, through the engine the CLI drives: the document's examples as they are,
then coverage (boundary values, missing and wrong-typed fields and headers, methods a path does not take), then
fuzzing (requests Hypothesis generates, valid and invalid), then stateful sequences (an award made, then read).
Every answer goes through Schemathesis's checks: no server error (5xx), a status code the operation documents, the
documented content type, headers and body schema, authentication enforced where the document says it is, invalid
data refused, ``Allow`` on a 405. And each refusal's ``error.code`` must be one the operation documents for that
status (:func:`undocumented_codes`). A 503 counts as a server error too: the service runs on its embedded chain and
a local database, which are always there, so a 503 (``chain_unavailable``, ``storage_unavailable``) is a fault.

Schemathesis's ``pytest`` integration is not used: its fixture-loaded schemas (``schemathesis.pytest.from_fixture``)
need pytest's private ``Node._nodeid``, which pytest 9.2 removed, and a schema loaded at import would start the
service while tests are collected.

Bounds: derandomized generation and a fixed seed (the same requests every run), :data:`MAX_EXAMPLES` per
operation and phase, and :data:`MAX_TIME_S` for the whole run (about 30 s on two cores; reaching the bound fails
the test, since some operations would go untested). The accept path must be reached: at least one 202 from
``POST /v1/awards`` (the document's example award is valid as it is).

The Slack command is left out unless the service has a Slack signing secret (it answers 404 otherwise); the HTML
pages are not in the document. The run happens once per module (:func:`fuzz_run`); each test asserts one property.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from kudos_service.api.openapi import AWARD_EXAMPLE
from kudos_service.core.config import Settings
from kudos_service.core.security import SCOPES
from kudos_service.main import create_app
from kudos_service.state import AppState
from schemathesis.core.result import Ok
from schemathesis.engine import StopReason, events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.python.asgi import get_client, shutdown_lifespans

from tests.service.conftest import create_key

#: Hypothesis examples per operation in each generating phase.
MAX_EXAMPLES = 100

#: The most the whole run may take (it is stopped then); it takes about 30 s on this project's two-core machines.
MAX_TIME_S = 120

#: Refusals that belong to no operation (see the document's introduction): a path the API does not have, a method
#: the path does not take. Schemathesis probes both.
_ANYWHERE = {404: {"not_found"}, 405: {"method_not_allowed"}}


@dataclass
class Failure:
    """A check that failed: where, which, why, and the request that shows it."""

    operation: str
    check: str
    title: str
    message: str
    request: str

    def __str__(self) -> str:
        return f"{self.operation} [{self.check}] {self.title}: {self.message.strip()}\n    {self.request}"


@dataclass
class FuzzRun:
    """What one Schemathesis run saw."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    stop_reason: StopReason | None = None
    running_time: float = 0.0

    def failed(self, *checks: str, exclude: tuple[str, ...] = ()) -> list[Failure]:
        """The failures of ``checks`` (of every check but ``exclude`` when none is named), one per operation,
        check and title."""
        seen: dict[tuple[str, str, str], Failure] = {}
        for f in self.failures:
            if (f.check in checks or not checks) and f.check not in exclude:
                seen.setdefault((f.operation, f.check, f.title), f)
        return list(seen.values())


def _config(api_key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            # No "max-time": with one, Schemathesis repeats fuzzing and stateful phases until the time is up.
            "seed": 20261126,
            "continue-on-failure": True,  # every failure of an operation, not only its first
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,  # derandomized: the same requests every run
                "database": "none",  # nothing replayed from, or written for, another run
            },
            # In the document's order: awards are made before they are read, and kudos are read before the
            # revocation operation burns them (Schemathesis would otherwise run every POST first).
            "phases": {phase: {"operation-ordering": "none"} for phase in ("examples", "coverage", "fuzzing")},
            "checks": {
                # Schema-valid requests may be refused for what they refer to: a kind slug or a @handle that does
                # not exist (422), a revoked kudos (410). The other checks judge those answers.
                "positive_data_acceptance": {"enabled": False},
            },
            "auth": {"openapi": {"bearerAuth": {"bearer": api_key}}},
        }
    )


def undocumented_codes(case: Case[Any], status: int, body: Any) -> str | None:
    """Why the ``error.code`` of a refusal is not one the operation documents for ``status`` (None: it is).

    The codes an error response documents are the names of its examples (see ``error_responses``)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None  # not an error envelope: response_schema_conformance judges the body
    responses = case.operation.definition.raw.get("responses", {})
    if str(status) not in responses:
        return None  # an undocumented status: status_code_conformance judges it
    content = responses[str(status)].get("content", {}).get("application/json", {})
    documented = set(content.get("examples", {})) | _ANYWHERE.get(status, set())
    code = body["error"].get("code")
    if code in documented:
        return None
    return f"{case.operation.label}: {status} {code!r} is not documented (only {sorted(documented)})"


def _record(run: FuzzRun, recorder: ScenarioRecorder) -> None:
    """The statuses, check failures and refusal codes of one finished scenario."""
    for case_id, node in recorder.cases.items():
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        if response is None:
            continue
        case: Case[Any] = node.value
        run.statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1
        if response.status_code >= 400:
            try:
                body = json.loads(response.content or b"null")
            except ValueError:
                body = None
            problem = undocumented_codes(case, response.status_code, body)
            if problem is not None:
                run.undocumented.append(f"{problem}\n    {case.as_curl_command()}")
    for check_nodes in recorder.checks.values():
        for check in check_nodes:
            info = check.failure_info
            if info is not None:
                failure = info.failure
                operation = failure.operation or recorder.label
                run.failures.append(Failure(operation, check.name, failure.title, failure.message, info.code_sample))


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzRun]:
    """One Schemathesis run against a fresh service, its lifespan started by Schemathesis (once, on its own event
    loop) when it loads the document."""
    data_dir: Path = tmp_path_factory.mktemp("kudos-fuzz")
    api_key = create_key(data_dir, *SCOPES, name="schemathesis")
    spare_key = _spare(api_key, instead=create_key(data_dir, "award", name="revoked in the run's key's place"))
    app = create_app(Settings(data_dir=data_dir, rpc_url=None, database_url=None, batch_max_wait_ms=0))
    state: AppState = app.state.kudos
    run = FuzzRun()
    try:
        schema: schemathesis.BaseSchema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(api_key))
        if state.settings.slack_signing_secret is None:
            schema = schema.exclude(path="/integrations/slack/commands")
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the document has an invalid operation: {result.err()}"
            run.operations.append(result.ok().label)
        _award_kudos(app, api_key, 3)
        stream = from_schema(schema).execute()
        deadline = time.monotonic() + MAX_TIME_S
        for event in stream:
            if time.monotonic() > deadline and not stream.stop_event.is_set():
                stream.stop()  # the next event is the last: EngineFinished, stopped early
            if isinstance(event, events.ScenarioFinished):
                _record(run, event.recorder)
            elif isinstance(event, events.NonFatalError):
                run.errors.append(f"{event.label}: {event.info.format()}")
            elif isinstance(event, events.FatalError):
                run.errors.append(f"fatal: {event.exception!r}")
            elif isinstance(event, events.EngineFinished):
                run.stop_reason = event.stop_reason
                run.running_time = event.running_time
        yield run
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(spare_key)
        shutdown_lifespans()
        ctx = state.chain.peek()
        if ctx is not None:
            ctx.chain.close()
        state.db.dispose()


def _spare(api_key: str, *, instead: str) -> Callable[..., None]:
    """A ``before_call`` hook, registered, that sends a revocation of the run's own key to another key's prefix.

    Schemathesis reads the prefixes ``GET /v1/keys`` lists and sends them back to ``POST /v1/keys/{prefix}/revoke``:
    revoking the run's key would leave every later request a 401 ``key_revoked``, and the run would test little
    more than authentication. The other key's revocation still answers 200 (again, after the first)."""
    own, other = api_key.split("_")[1], instead.split("_")[1]

    def before_call(_ctx: Any, case: Case[Any], **_kwargs: Any) -> None:
        if case.path_parameters and case.path_parameters.get("prefix") == own:
            case.path_parameters["prefix"] = other

    schemathesis.hook(before_call)  # only the global dispatcher's before_call hooks run
    return before_call


def _award_kudos(app: Any, api_key: str, count: int) -> None:
    """Kudos 1 to ``count``, confirmed on chain, so that the token operations have something to read (and to
    revoke) from the first request on."""
    with get_client(app) as client:
        for n in range(count):
            response = client.post(
                "/v1/awards",
                json={**AWARD_EXAMPLE, "message": f"Thank you, number {n + 1}!"},
                headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"seed-{n}"},
                params={"wait": 20},
            )
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "confirmed", response.text


def _report(failures: list[Any]) -> str:
    return f"{len(failures)} found:\n" + "\n".join(str(f) for f in failures[:20])


def test_the_run_completes_within_its_bounds(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.errors == [], "\n".join(fuzz_run.errors)
    assert fuzz_run.stop_reason == StopReason.COMPLETED, (
        f"the run stopped early ({fuzz_run.stop_reason}) after {fuzz_run.running_time:.0f} s: some operations went "
        f"untested; lower MAX_EXAMPLES or raise MAX_TIME_S"
    )


def test_no_server_errors(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.failed("not_a_server_error")
    assert not failures, _report(failures)


def test_every_status_code_is_documented(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.failed("status_code_conformance")
    assert not failures, _report(failures)


def test_every_refusal_code_is_documented(fuzz_run: FuzzRun) -> None:
    first = {problem.split("\n")[0]: problem for problem in reversed(fuzz_run.undocumented)}  # one request each
    undocumented = sorted(first.values())
    assert not undocumented, _report(undocumented)


def test_responses_conform_to_the_document(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.failed(
        "response_schema_conformance", "content_type_conformance", "response_headers_conformance"
    )
    assert not failures, _report(failures)


def test_no_other_check_fails(fuzz_run: FuzzRun) -> None:
    """Invalid data refused, authentication enforced, ``Allow`` right, and the rest of Schemathesis's checks."""
    failures = fuzz_run.failed(
        exclude=(
            "not_a_server_error",
            "status_code_conformance",
            "response_schema_conformance",
            "content_type_conformance",
            "response_headers_conformance",
        )
    )
    assert not failures, _report(failures)


def test_the_accept_path_is_reached(fuzz_run: FuzzRun) -> None:
    awards = fuzz_run.statuses.get("POST /v1/awards", Counter())
    assert awards[202] >= 1, f"POST /v1/awards never answered 202: {dict(awards)}"
    batches = fuzz_run.statuses.get("POST /v1/awards/batch", Counter())
    assert batches[202] >= 1, f"POST /v1/awards/batch never answered 202: {dict(batches)}"


#: Operations no generated request can carry out: a claim needs a wallet's signature of a message the service
#: wrote for that link (tests/service/test_claims.py makes them). They must still be reached, and refuse cleanly.
NEEDS_A_SIGNATURE = {"POST /v1/claims/{token}"}


def test_every_operation_is_exercised(fuzz_run: FuzzRun) -> None:
    """Each operation of the document answered at least once with success (2xx), but those that need a wallet's
    signature, which answered at least once with a refusal of what the body says (422)."""
    assert fuzz_run.operations
    statuses = {label: fuzz_run.statuses.get(label, Counter()) for label in fuzz_run.operations}
    missing = sorted(
        label
        for label, seen in statuses.items()
        if label not in NEEDS_A_SIGNATURE and not any(200 <= s < 300 for s in seen)
    )
    assert not missing, f"never answered 2xx: {missing}; statuses: {statuses}"
    for label in NEEDS_A_SIGNATURE:
        assert statuses[label][422] >= 1, f"{label} was never refused for its body: {dict(statuses[label])}"
