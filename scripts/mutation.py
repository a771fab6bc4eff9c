#!/usr/bin/env python3
"""Mutation testing of the modules where a silent bug loses, doubles or misreports a kudos, with mutmut 3.

    pip install -e '.[mutation]'
    python scripts/mutation.py [TARGET ...] [--max-children N] [--timeout-per-mutant S] [--budget MINUTES]
                               [--retest] [--fresh] [--report-only] [--fail-under PERCENT]

A TARGET is a group (``delivery``, ``library``, ``acceptance``, ``guards``; all four when none is named) or one
module of a group
(``service/kudos_service/delivery/fees.py``), which runs only that module's mutants. Each group is mutated and
tested with the fast in-process tests that cover it:

- ``delivery``: ``service/kudos_service/delivery/*.py`` (outbox, worker, fees, reconciliation, redelivery), by
  ``tests/service/delivery``, which drive the worker's steps one at a time (the rest of ``tests/service`` reaches
  it only through its background thread: timing-dependent verdicts, and the whole suite per surviving mutant);
- ``library``: the transaction pipeline and the chain reads, ``kudos_chain/transactions.py`` and
  ``kudos_chain/chain.py``, by ``tests/library`` (on both chains: embedded py-evm and an anvil node);
- ``acceptance``: idempotency and acceptance (``awards.py``), by the service's tests of awards: the accept queue,
  ``/v1/awards`` one by one and in batches, hostile input, recipients, kudos held for an email address and
  Slack's awards (every request of the service passes through ``awards.py``'s catalog: with all of
  ``tests/service``, ~900 tests, a mutant that survives or hangs costs minutes, and the module's 678 mutants took
  hours);
- ``guards``: API keys and their scopes (``core/security.py``, ``api/deps.py``), the app's state (``state.py``),
  Slack's signature (``api/routes/slack.py``) and the metadata's content hash (``kudos_chain/metadata.py``), by
  ``tests/service`` and ``tests/library/test_metadata*.py``.

Browser tests, the fuzzer, scale tests and benchmarks are left out, and so are the tests that run ``kudos serve``
in a process of its own (``tests/service_process``): mutmut learns which tests reach which function by watching
calls in the test process, so code run in a child process counts for nothing (it imports the unmutated sources).

At the end it prints, per module, a Markdown table (mutants, killed, survived, timeout, no tests, other, not
checked, score), then each surviving mutant as ``file:line`` and its diff. The score is
``(killed + timeout) / checked``: a mutant that made its tests hang was caught. Every survivor is to be killed by
a new test or listed, with the reason it is equivalent, in ``docs/mutation-equivalents.md``.

Bounds: at most ``--max-children`` (default 2) mutants at once; a mutant's tests are stopped and counted as a
timeout after ``3 x their measured time + S`` seconds (``--timeout-per-mutant S``, default 60); the whole command
stops after ``--budget`` minutes (default 120). It is resumable: mutmut keeps every verdict in
``mutants/<group>/mutants/**/*.meta``, so the same command again tests only the mutants not yet checked (and the
functions changed since). ``--retest`` tests again the mutants that survived (after tests were added: mutmut finds
the new tests and which functions they reach), ``--fresh`` starts the group from nothing, ``--report-only`` only
prints the tables. ``--fail-under P`` exits 1 when a fully checked module scores below P %.

How it drives mutmut (3.8.1; read ``mutmut/__main__.py`` and ``mutmut/utils/file_utils.py`` before upgrading):
mutmut names a mutant after its file's path (``kudos_service/delivery/fees.py`` becomes
``kudos_service.delivery.fees.x_fees_for_new__mutmut_1``), strips only a leading ``src.``, puts only
``mutants/``, ``mutants/src`` and ``mutants/source`` on ``sys.path``, and activates a mutant only where the name
matches the running module's ``__name__``. Run from the repository, ``service/kudos_service`` would be named
``service.kudos_service...``, and its copy in ``mutants/service`` would never be imported (the editable install
would serve the original), so no mutant would ever be active. So each group runs in its own directory,
``mutants/<group>/``, with ``kudos_chain`` and ``src/kudos_service`` as symbolic links to the sources (and
``tests`` and ``contracts`` to theirs), and a copy of ``pyproject.toml`` whose ``[tool.mutmut]`` is the shared
settings plus the group's. One directory per group, because mutmut drops every verdict when the test selection
changes, and never mutates a file again that it once copied unmutated (another ``only_mutate``); one module of a
group is run by naming its mutants. Inside ``mutants/<group>/`` the usual mutmut commands work::

    cd mutants/delivery && ../../.venv/bin/mutmut show kudos_service.delivery.fees.x_eth__mutmut_1

This file is also a pytest plugin of mutmut's test runs (``-p kudos_mutation_order``, linked into
``mutants/<group>/mutants/``): it runs a mutant's tests in the suite's order (some tests rely on an earlier one of
their file), and in mutmut's first, whole run it credits every test of a file with the functions its fixtures
reached while being set up (the worker's thread is started once per module-scoped app; without this its mutants
are tested by the file's first test alone).

Processes: mutmut runs in a session of its own, with an environment marker that every process it starts
inherits; anvil nodes left behind by a test run that was stopped (a timeout) are ended as they appear, and
whatever is left when mutmut ends or the budget is spent is ended too.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fnmatch
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "mutants"

#: The service's tests that run the service's code in the test process.
SERVICE_TESTS = (
    "tests/service",
    "--ignore=tests/service/test_wallet_page.py",  # a browser
    "--ignore=tests/service/test_claim_browser.py",  # a browser
    "--ignore=tests/service/test_openapi_fuzz.py",  # a fuzzer, 30 s and random
    # reads the sources under service/, which the mutants' tree does not have, and runs none of them
    "--deselect=tests/service/test_openapi.py::test_every_error_code_the_service_raises_is_documented_with_its_status",
    "--deselect=tests/service/test_public_reads.py::test_a_cold_read_asks_the_node_as_much_at_3000_kudos_as_at_30",
    "--deselect=tests/service/test_cli.py::test_the_installed_command_behaves_the_same",  # a child process
)


#: The delivery tests that drive the worker's steps one by one, in the test process, on an embedded chain and on
#: an anvil node of their own (tests/service/delivery). The rest of tests/service reaches delivery only through the
#: worker's background thread, whose verdicts on a mutant depend on timing, and any of its ~900 tests would run
#: against each delivery mutant that survives (the whole suite, minutes, per mutant).
DELIVERY_TESTS = ("tests/service/delivery",)


@dataclass(frozen=True)
class Group:
    """Modules mutated together, and the tests that run against their mutants."""

    name: str
    modules: tuple[str, ...]  # repository paths or globs
    tests: tuple[str, ...]  # pytest arguments, relative to the repository
    #: Statements not mutated (mutmut's ``do_not_mutate_patterns``: a regular expression searched in each line; the
    #: whole statement that starts on a matching line is left as it is).
    do_not_mutate: tuple[str, ...] = ()


#: Logging calls: a mutant of one changes only the text of a log line, which no behaviour depends on (the class
#: is listed once in docs/mutation-equivalents.md); each would survive, at the cost of every test that covers it.
LOG_CALLS = r"^\s*(logger|logging)\.(debug|info|warning|error|exception|critical)\("

GROUPS = {
    group.name: group
    for group in (
        Group("delivery", ("service/kudos_service/delivery/*.py",), DELIVERY_TESTS, (LOG_CALLS,)),
        Group(
            "library",
            ("kudos_chain/transactions.py", "kudos_chain/chain.py"),
            (
                "tests/library",
                "--ignore=tests/library/test_anvil_scale.py",
                # the embedded chain's database (kudos_chain/embedded.py, not in the group), 12 s a run
                "--ignore=tests/library/test_embedded_persistence.py",
            ),
        ),
        Group(
            "acceptance",
            ("service/kudos_service/awards.py",),
            (
                # a mutant that stops the accept queue's thread leaves a request waiting for ever: its test fails
                # after a minute (see the guards' below)
                "--timeout=60",
                # first: mutmut stops a mutant's tests at the first failure, in this order (see the plugin below)
                "tests/service/test_award_acceptance.py",
                "tests/service/test_awards.py",
                "tests/service/test_batch.py",
                "tests/service/test_hardening.py",
                "tests/service/test_recipients.py",
                "tests/service/test_kinds.py",
                "tests/service/test_claims.py",  # awards to an email address, held for the person
                "tests/service/test_slack_award_mutants.py",
            ),
            (LOG_CALLS,),
        ),
        Group(
            "guards",
            (
                "service/kudos_service/core/security.py",
                "service/kudos_service/api/deps.py",
                "service/kudos_service/state.py",
                "service/kudos_service/api/routes/slack.py",
                "kudos_chain/metadata.py",
            ),
            (
                # A mutant that hangs a request leaves its test waiting for ever; a test that waits this long fails
                # (no test of this selection takes 3 s, the set-up of a module's app under mutmut's tracing
                # included, well under a minute), instead of the whole run's limit (3 x a few minutes) being spent.
                # Either way the mutant is caught.
                "--timeout=60",
                # first: mutmut stops a mutant's tests at the first failure, in this order (see the plugin below)
                "tests/library/test_metadata.py",
                "tests/library/test_metadata_canonical_form.py",
                *SERVICE_TESTS,
                # the delivery group's own tests (the worker, outbox and reconciliation on a test rig): minutes of
                # timed waits under mutmut's tracing, for code outside this group
                "--ignore=tests/service/delivery",
                "--ignore=tests/service/test_badge_render.py",  # a browser
                # reads THIRD_PARTY_NOTICES.md from the repository, which the mutants' tree does not have
                "--deselect=tests/service/test_icons.py::test_the_icons_licence_ships_with_them_and_the_notice_credits_them",
            ),
            (LOG_CALLS,),
        ),
    )
}

#: Where each package is seen inside a group's directory (see the docstring), and where it really is.
LINKS = {
    "kudos_chain": ROOT / "kudos_chain",
    "src/kudos_service": ROOT / "service" / "kudos_service",
    "tests": ROOT / "tests",
    "contracts": ROOT / "contracts",
}
SOURCE_PATHS = ("kudos_chain", "src/kudos_service")
#: This file, as the pytest plugin of mutmut's test runs (see ``pytest_collection_modifyitems``).
PLUGIN = "kudos_mutation_order"

#: mutmut 3.8.1's verdict of each exit code its workers record (``mutmut.stats.status_by_exit_code``).
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    None: "not checked",
    0: "survived",
    1: "killed",
    3: "killed",  # pytest's internal error
    2: "interrupted",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",  # SIGXCPU: the wall or CPU limit
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
CAUGHT = ("killed", "timeout", "caught by type check")

MARKER = "KUDOS_MUTATION_RUN"
POLL_SECONDS = 10.0
PROGRESS_SECONDS = 60.0
GRACE_SECONDS = 60.0
#: Set when the run is interrupted (Ctrl-C, or ``kill``): the modules not started yet are left for the next run.
INTERRUPTED = threading.Event()


# --------------------------------------------------------------------------------------------------------------
# Paths and names


def to_stage(repo_path: str) -> str:
    """``service/kudos_service/x.py`` -> ``src/kudos_service/x.py``: a repository path as the group's directory
    sees it."""
    return re.sub(r"^service/kudos_service/", "src/kudos_service/", repo_path)


def to_repo(stage_path: str) -> str:
    return re.sub(r"^src/kudos_service/", "service/kudos_service/", stage_path)


def module_name(stage_path: str) -> str:
    """The dotted name mutmut gives a file's mutants (``get_mutant_name``): its path, less ``.py`` and ``src.``."""
    return stage_path.removesuffix(".py").replace("/", ".").removeprefix("src.")


def group_of(target: str) -> tuple[Group, str | None]:
    """The group a target names, and the module it restricts the run to (None: the whole group)."""
    if target in GROUPS:
        return GROUPS[target], None
    path = Path(target).resolve()
    with contextlib.suppress(ValueError):
        target = path.relative_to(ROOT).as_posix()
    for group in GROUPS.values():
        if any(fnmatch.fnmatch(target, pattern) for pattern in group.modules):
            return group, target
    known = ", ".join(GROUPS)
    raise SystemExit(f"{target!r} is neither a group ({known}) nor a module of one")


# --------------------------------------------------------------------------------------------------------------
# A group's directory


def stage_dir(group: Group) -> Path:
    return WORK / group.name


def mutmut_settings(group: Group, timeout_per_mutant: float | None) -> dict[str, Any]:
    """The ``[tool.mutmut]`` of the group's directory: pyproject's shared settings plus the group's."""
    settings: dict[str, Any] = dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"].get("mutmut", {}))
    settings["source_paths"] = list(SOURCE_PATHS)
    settings["only_mutate"] = [to_stage(pattern) for pattern in group.modules]
    settings["pytest_add_cli_args_test_selection"] = list(group.tests)
    settings["pytest_add_cli_args"] = [*settings.get("pytest_add_cli_args", []), "-p", PLUGIN]
    if group.do_not_mutate:
        settings["do_not_mutate_patterns"] = [*settings.get("do_not_mutate_patterns", []), *group.do_not_mutate]
    if timeout_per_mutant is not None:
        settings["timeout_constant"] = timeout_per_mutant / float(settings.get("timeout_multiplier", 15.0))
    return settings


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def pyproject_for(settings: dict[str, Any]) -> str:
    """The repository's pyproject.toml (pytest reads its settings from the copy) with ``settings`` as its
    ``[tool.mutmut]``."""
    kept: list[str] = []
    in_mutmut = False
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", line)
        if header:
            in_mutmut = header.group(1) == "tool.mutmut" or header.group(1).startswith("tool.mutmut.")
        if not in_mutmut:
            kept.append(line)
    lines = ["", "# Written by scripts/mutation.py for this group: do not edit.", "[tool.mutmut]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    return "\n".join(kept).rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def prepare(group: Group, *, timeout_per_mutant: float | None, fresh: bool) -> Path:
    """Lay out the group's directory: links to the sources, tests and contracts, and its pyproject.toml."""
    stage = stage_dir(group)
    if fresh and (stage / "mutants").exists():
        shutil.rmtree(stage / "mutants")  # mutmut's tree only: the links stay, and rmtree never follows them
    stage.mkdir(parents=True, exist_ok=True)
    for name, target in LINKS.items():
        link = stage / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
    (stage / "mutants").mkdir(exist_ok=True)
    plugin = stage / "mutants" / f"{PLUGIN}.py"  # mutants/ is the tests' working directory, on their sys.path
    if not plugin.is_symlink():
        plugin.symlink_to(os.path.relpath(Path(__file__).resolve(), plugin.parent))
    # Tests import helpers from scripts/ (tests/service/test_icons.py: ``scripts.vendor_icons``), a namespace
    # package found from the working directory; mutmut copies only tests/, so link it there (not copied: 76 MB).
    scripts = stage / "mutants" / "scripts"
    if not scripts.is_symlink():
        scripts.symlink_to(os.path.relpath(ROOT / "scripts", scripts.parent), target_is_directory=True)
    pyproject = stage / "pyproject.toml"
    text = pyproject_for(mutmut_settings(group, timeout_per_mutant))
    if not pyproject.exists() or pyproject.read_text() != text:  # mutmut warns when its watched files change
        pyproject.write_text(text)
    return stage


# --------------------------------------------------------------------------------------------------------------
# Verdicts


@dataclass
class ModuleResult:
    path: str  # repository path
    stage_path: str
    status_by_mutant: dict[str, str] = field(default_factory=dict)

    def count(self, *statuses: str) -> int:
        return sum(1 for status in self.status_by_mutant.values() if status in statuses)


def load_results(group: Group) -> list[ModuleResult]:
    """The verdicts mutmut stored in the group's ``.meta`` files (JSON; ``exit_code_by_key``), per module."""
    tree = stage_dir(group) / "mutants"
    results = []
    for stage_pattern in (to_stage(pattern) for pattern in group.modules):
        for meta in sorted(tree.glob(stage_pattern + ".meta")):
            stage_path = meta.relative_to(tree).as_posix().removesuffix(".meta")
            exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
            status = {name: STATUS_BY_EXIT_CODE.get(code, "suspicious") for name, code in exit_codes.items()}
            results.append(ModuleResult(to_repo(stage_path), stage_path, status))
    return results


def mutants_of(results: Sequence[ModuleResult], module: str | None) -> list[ModuleResult]:
    return [result for result in results if module is None or result.path == module]


def score(result: ModuleResult) -> float | None:
    checked = len(result.status_by_mutant) - result.count("not checked", "skipped")
    return 100.0 * result.count(*CAUGHT) / checked if checked else None


def table(results: Sequence[ModuleResult]) -> str:
    rows = [
        "| module | mutants | killed | survived | timeout | no tests | other | not checked | score % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        counts = Counter(result.status_by_mutant.values())
        main = ("killed", "survived", "timeout", "no tests", "not checked")
        other = sum(n for status, n in counts.items() if status not in main)
        value = score(result)
        cells = [
            f"`{result.path}`",
            str(len(result.status_by_mutant)),
            str(counts["killed"]),
            str(counts["survived"]),
            str(counts["timeout"]),
            str(counts["no tests"]),
            str(other),
            str(counts["not checked"]),
            "-" if value is None else f"{value:.1f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------------------------
# Survivors, as file:line and diff


def _function_span(source: str, function: str, class_name: str | None) -> tuple[int, int] | None:
    """The first and last line of ``function`` (in ``class_name``), decorators included, in the original source."""
    body: list[ast.stmt] = ast.parse(source).body
    if class_name is not None:
        classes = [node for node in body if isinstance(node, ast.ClassDef) and node.name == class_name]
        body = classes[0].body if classes else []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            return first, node.end_lineno or node.lineno
    return None


def _split_key(mutant: str) -> tuple[str, str | None]:
    """``module.xǁClassǁmethod__mutmut_3`` -> ``("method", "Class")``; ``module.x_f__mutmut_1`` -> ``("f", None)``."""
    mangled = mutant.rpartition(".")[2].partition("__mutmut_")[0]
    if "ǁ" in mangled:
        _, class_name, function = mangled.split("ǁ")
        return function, class_name
    return mangled.removeprefix("x_"), None


def _first_change(diff: list[str]) -> tuple[int, str] | None:
    """Where the first removed line of a diff of a function's text is in that text (1-based), and its text."""
    position = 0
    for line in diff[2:]:
        hunk = re.match(r"^@@ -(\d+)", line)
        if hunk:
            position = int(hunk.group(1))
        elif line.startswith("-"):
            return position, line[1:]
        elif line.startswith(" "):
            position += 1
    return None


def describe(group: Group, result: ModuleResult, mutant: str, diff_for: Callable[..., str]) -> str:
    """``path:line`` and the changed lines of one mutant."""
    with contextlib.chdir(stage_dir(group)):
        diff = diff_for(mutant, path=result.stage_path).splitlines()
    where = result.path
    source = (ROOT / result.path).read_text()
    span = _function_span(source, *_split_key(mutant))
    change = _first_change(diff)
    if span is not None and change is not None:
        # the diff is of the function's text alone: the changed line is near its offset from the function's
        # first line, and it is the nearest line of the function with the same text
        guess = span[0] + change[0] - 1
        lines = source.splitlines()
        same = [n for n in range(span[0], span[1] + 1) if lines[n - 1].strip() == change[1].strip()]
        where = f"{result.path}:{min(same, key=lambda n: abs(n - guess)) if same else guess}"
    body = "\n".join(f"    {line}" for line in diff[2:] if line[:1] in ("-", "+"))
    return f"- `{where}` `{mutant.rpartition('.')[2]}` ({result.status_by_mutant[mutant]})\n{body}"


def survivors_report(group: Group, results: Sequence[ModuleResult]) -> str:
    diff_module = importlib.import_module("mutmut.mutation.diff_apply")
    diff_for = cast(Callable[..., str], diff_module.get_diff_for_mutant)
    parts = []
    for result in results:
        names = sorted(
            (name for name, status in result.status_by_mutant.items() if status not in (*CAUGHT, "not checked")),
            key=lambda name: (name.partition("__mutmut_")[0], int(name.rpartition("_")[2])),
        )
        if not names:
            continue
        parts.append(f"### `{result.path}`: {len(names)} not caught\n")
        parts += [describe(group, result, name, diff_for) for name in names]
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------------------
# Running mutmut, bounded, and ending what it leaves behind


def _marked_processes(marker: str) -> dict[int, int]:
    """The processes started under this run's marker, by pid, with their parent's pid."""
    needle = f"{MARKER}={marker}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        found[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return found


def end_strays(marker: str, keep: int | None) -> int:
    """End this run's processes whose parent is not one of them (left behind by a stopped test run, as an anvil
    node is when a timeout kills its pytest), except ``keep``; with ``keep`` None, end all of them."""
    processes = _marked_processes(marker)
    ended = 0
    for pid, parent in processes.items():
        if keep is not None and (pid == keep or parent in processes):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            ended += 1
    return ended


def mutmut_command() -> list[str]:
    script = Path(sys.executable).with_name("mutmut")
    if not script.exists():
        raise SystemExit(f"mutmut is not installed next to {sys.executable}: pip install -e '.[mutation]'")
    return [str(script)]


def progress(group: Group, module: str | None) -> str:
    results = mutants_of(load_results(group), module)
    total = sum(len(result.status_by_mutant) for result in results)
    counts = Counter(status for result in results for status in result.status_by_mutant.values())
    return (
        f"{total - counts['not checked']}/{total} checked: {counts['killed']} killed, {counts['survived']} "
        f"survived, {counts['timeout']} timeout, {counts['no tests']} no tests"
    )


def stop(process: subprocess.Popen[bytes], marker: str) -> None:
    """Ask mutmut to stop as Ctrl-C does (it keeps every verdict it has), then end whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: every process of this run that stayed in it
        process.wait()


def run_mutmut(
    group: Group, names: Sequence[str], *, max_children: int, deadline: float, log: Path
) -> tuple[int | None, float]:
    """``mutmut run --max-children N [names]`` in the group's directory until it ends or ``deadline``.

    :returns: its exit status (None: stopped at the deadline) and the wall time it took.
    """
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER: marker}
    # mutmut copies tests/ into mutants/ on every run without deleting what is gone from it (copytree with
    # dirs_exist_ok): a test file removed or renamed since would still be collected, from the stale copy. Start
    # from an empty copy; the verdicts are kept beside the mutated sources, not in tests/.
    copy = stage_dir(group) / "mutants" / "tests"
    if copy.is_dir() and not copy.is_symlink():
        shutil.rmtree(copy)
    started = time.monotonic()
    last_progress = started
    stopped = False
    with log.open("ab") as out:
        out.write(f"\n\n==== {time.ctime()}: mutmut run {' '.join(names)[:500]}\n".encode())
        out.flush()
        process = subprocess.Popen(
            [*mutmut_command(), "run", "--max-children", str(max_children), *names],
            cwd=stage_dir(group),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                try:
                    process.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                end_strays(marker, keep=process.pid)
                now = time.monotonic()
                if now >= deadline:
                    print(f"  budget spent after {now - started:.0f} s: stopping mutmut (run again to go on)")
                    stopped = True
                    stop(process, marker)
                    break
                if now - last_progress >= PROGRESS_SECONDS:
                    last_progress = now
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        print(f"  {now - started:5.0f} s  {progress(group, module_filter(names))}", flush=True)
        except KeyboardInterrupt:
            print("  interrupted: stopping mutmut")
            INTERRUPTED.set()
            stopped = True
            stop(process, marker)
        finally:
            end_strays(marker, keep=None)
    return (None if stopped else process.returncode), time.monotonic() - started


def module_filter(names: Sequence[str]) -> str | None:
    """The module a run's names are all in, when they are, as a repository path."""
    modules = {name.partition(".x")[0] for name in names}
    if len(modules) != 1:
        return None
    (dotted,) = modules
    dotted = dotted.rstrip("*").rstrip(".")
    for prefix, path in (("kudos_service.", "service/kudos_service/"), ("kudos_chain.", "kudos_chain/")):
        if dotted.startswith(prefix):
            return path + dotted.removeprefix(prefix).replace(".", "/") + ".py"
    return None


def names_to_run(group: Group, module: str | None, retest: bool) -> list[str] | None:
    """The mutants to name on mutmut's command line: [] for the whole group as mutmut resumes it, None for
    nothing to do."""
    results = mutants_of(load_results(group), module)
    wanted = ("survived", "no tests", "suspicious", "interrupted", "segfault") if retest else ()
    if retest:  # only those: a run without --retest goes on with the mutants not yet checked
        names = [n for r in results for n, status in r.status_by_mutant.items() if status in wanted]
        return names or None
    if module is None:
        return []
    if not results:  # never generated: name them by pattern, the first run generates them
        return [module_name(to_stage(module)) + ".x*"]
    names = [n for r in results for n, status in r.status_by_mutant.items() if status == "not checked"]
    return names or None


# --------------------------------------------------------------------------------------------------------------
# The pytest plugin


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In mutmut's test runs (this file is loaded there with ``-p kudos_mutation_order``), run the tests in the
    order of the whole selection's run.

    mutmut runs a mutant's tests as a list of node ids in the order of a set (or, forking from its main process,
    fastest first), but some of the service's tests rely on an earlier one of their module (a module-scoped app
    whose first request creates the award the later ones read). mutmut records every test of its first, whole
    run in ``mutmut-stats.json`` in the order it ran them: sort by that order, so a test that passes in the suite
    passes here, and fails only because of the mutant.

    Not in a stats run (``MUTANT_UNDER_TEST=stats``): that run records the order, in the suite's own. When the test
    selection changes, mutmut runs the whole selection's stats again while the old ``mutmut-stats.json`` is still
    on disk (it is rewritten only at the end); sorting by it would put every test new to the selection after all
    the others, out of its module's order, and record that order for every later run.
    """
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        return
    try:
        order = json.loads(Path("mutmut-stats.json").read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return  # the first, whole run
    rank = {node_id: index for index, node_id in enumerate(order)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))


#: In mutmut's stats run: per test file, the functions its tests' fixtures reached while being set up.
_REACHED_IN_SETUP: dict[str, set[str]] = {}


def _mutmut_hits() -> set[str] | None:
    """mutmut's set of the functions reached by the running test, in its stats run; otherwise None."""
    if os.environ.get("MUTANT_UNDER_TEST") != "stats":
        return None
    hits: set[str] = importlib.import_module("mutmut.state").state()._stats
    return hits


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """In the stats run, note what the fixtures set up for ``item`` reached (see ``pytest_runtest_teardown``)."""
    hits = _mutmut_hits()
    before = set(hits or ())
    try:
        return (yield)
    finally:
        if hits is not None:
            _REACHED_IN_SETUP.setdefault(item.nodeid.partition("::")[0], set()).update(hits - before)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """In the stats run, credit every test of a file with what its fixtures reached when they were set up.

    mutmut maps a function to the tests during which it was called. A module-scoped app is set up once, in its
    file's first test: the delivery worker's thread (``Worker.start``, ``Worker._run``, a loop entered once) would
    be credited to that one test, and its mutants tested by it alone, which seldom waits for a delivery. So the
    functions reached while a file's fixtures were set up count as reached by each later test of the file too
    (before mutmut's own hook reads them): more tests per mutant, never fewer.
    """
    hits = _mutmut_hits()
    if hits is not None:
        hits.update(_REACHED_IN_SETUP.get(item.nodeid.partition("::")[0], ()))


# --------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"a group ({', '.join(GROUPS)}) or a module")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--timeout-per-mutant",
        type=float,
        metavar="S",
        help="a mutant's tests may take 3 x their measured time + S seconds (default: pyproject's, 60)",
    )
    parser.add_argument("--budget", type=float, default=120.0, metavar="MINUTES", help="for the whole command")
    parser.add_argument("--retest", action="store_true", help="test again the mutants not caught")
    parser.add_argument("--fresh", action="store_true", help="forget the groups' mutants and verdicts first")
    parser.add_argument("--report-only", action="store_true", help="run nothing; print the tables")
    parser.add_argument("--no-survivors", action="store_true", help="print the tables only, not the survivors")
    parser.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 when a module scores less")
    args = parser.parse_args(argv)
    if args.max_children < 1:
        parser.error("--max-children must be at least 1")
    return args


def plan(targets: Sequence[str]) -> dict[str, tuple[Group, list[str | None]]]:
    """Per group (in order), the modules to run (None: the whole group)."""
    planned: dict[str, tuple[Group, list[str | None]]] = {}
    for target in targets or list(GROUPS):
        group, module = group_of(target)
        _, modules = planned.setdefault(group.name, (group, []))
        if None not in modules:
            modules[:] = [None] if module is None else [*modules, module]
    return planned


def run_group(group: Group, modules: Sequence[str | None], args: argparse.Namespace, deadline: float) -> Iterator[str]:
    """Run mutmut on the group's modules; yield a line per run, with its wall time."""
    log = stage_dir(group) / "mutmut.log"
    for module in modules:
        label = module or f"group {group.name}"
        names = names_to_run(group, module, args.retest)
        if names is None:
            yield f"- {label}: nothing left to test"
            continue
        if INTERRUPTED.is_set():
            yield f"- {label}: not run, interrupted"
            continue
        if time.monotonic() >= deadline:
            yield f"- {label}: not run, the budget is spent"
            continue
        print(f"{label}: mutmut run in {stage_dir(group).relative_to(ROOT)} (log: {log.relative_to(ROOT)})")
        status, wall = run_mutmut(group, names, max_children=args.max_children, deadline=deadline, log=log)
        outcome = "stopped (budget spent or interrupted)" if status is None else f"mutmut exit status {status}"
        yield f"- {label}: {wall:.0f} s wall, {outcome}; {progress(group, module)}"
        if status not in (0, None):
            tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()[-15:]
            print(f"mutmut failed ({outcome}); the end of {log.relative_to(ROOT)}:")
            print("\n".join(f"    {line}" for line in tail))


def interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C: a run started in the background (``&`` in a script, ``nohup``), where SIGINT is ignored,
    can be stopped with ``kill`` and keep every verdict it has."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    deadline = time.monotonic() + args.budget * 60
    planned = plan(args.targets)
    runs: list[str] = []
    for group, modules in planned.values():
        prepare(group, timeout_per_mutant=args.timeout_per_mutant, fresh=args.fresh and not args.report_only)
        if not args.report_only:
            runs += run_group(group, modules, args, deadline)
    if runs:
        print("\n## Runs\n")
        print("\n".join(runs))
    failing = []
    for group, modules in planned.values():
        results = load_results(group)
        if None not in modules:
            results = [result for result in results if result.path in modules]
        print(f"\n## Mutation score: {group.name}\n")
        print(table(results) if results else "(no mutants yet: run without --report-only)")
        if results and not args.no_survivors:
            report = survivors_report(group, results)
            checked = any(r.count("not checked") < len(r.status_by_mutant) for r in results)
            print(f"\n{report}" if report else "\nEvery checked mutant was caught." if checked else "")
        for result in results:
            value = score(result)
            complete = result.count("not checked") == 0
            if args.fail_under is not None and complete and value is not None and value < args.fail_under:
                failing.append(f"{result.path} ({value:.1f} %)")
    if failing:
        print(f"\nBelow {args.fail_under} %: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
