#!/usr/bin/env python3
"""Print KudosToken's gas against the two baselines of contracts/baselines/, as a Markdown table.

    python scripts/gas_report.py [--baselines DIR]

Deploys KudosToken (the committed artifact) and the baselines ``BareERC721`` and ``NaiveKudos`` (compiled with
``node scripts/compile.mjs --baselines`` into a temporary directory, or read from ``DIR``) on one py-evm chain,
and reports each operation's receipt ``gasUsed`` after a warm-up mint on every contract. The measuring code is
``scripts/gas.py``, which the gas tests share, so the table shows exactly what they assert.

Exit status: 0 when every target is met, 1 when one is missed, 2 when the baselines cannot be compiled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(ROOT))

from scripts.gas import (  # noqa: E402
    BATCH_SIZES,
    TARGET_BATCH_SIZE,
    Compiled,
    GasReport,
    Target,
    compile_baselines,
    new_chain,
    toolchain_problem,
)


@dataclass(frozen=True, slots=True)
class Row:
    operation: str
    kudos: float
    bare: float
    naive: float
    targets: tuple[Target, ...] = ()


def _gas(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _target(target: Target) -> str:
    verdict = "met" if target.met else "**NOT MET**"
    return f"≤ {target.limit:.2f}x {target.against}: {verdict}"


def rows(report: GasReport) -> list[Row]:
    """The table's rows; the batch rows compare the gas per kudos with one mint of each baseline."""
    vs_bare, batch_vs_bare, vs_naive = report.targets()
    k, b, n = report.kudos, report.bare, report.naive
    table = [
        Row("deployment", k.deploy, b.deploy, n.deploy),
        Row(
            "first mint of the contract (pays its counter slot; not compared)", k.first_mint, b.first_mint, n.first_mint
        ),
        Row("award to a new recipient (soulbound)", k.mint_new, b.mint_new, n.mint_new, (vs_bare, vs_naive)),
        Row("award to a new recipient (transferable)", k.mint_new_transferable, b.mint_new, n.mint_new),
        Row("award to an existing holder", k.mint_existing, b.mint_existing, n.mint_existing),
    ]
    for size in BATCH_SIZES:
        table.append(
            Row(
                f"batch of {size} to new recipients, per kudos (vs one mint to a new recipient)",
                k.batch_per_kudos[size],
                b.mint_new,
                n.mint_new,
                (batch_vs_bare,) if size == TARGET_BATCH_SIZE else (),
            )
        )
    table += [
        Row("transfer of a transferable kudos by its owner", k.transfer, b.transfer, n.transfer),
        Row("revoke by the admin (vs burn by the owner)", k.revoke, b.burn, n.burn),
        Row("burn by the owner", k.burn, b.burn, n.burn),
    ]
    return table


def render(report: GasReport, chain_description: str) -> str:
    """The report as Markdown: the table, then every target and whether it is met."""
    lines = [
        f"Receipt gasUsed on {chain_description}; every mint after a warm-up mint on its contract.",
        "",
        "| operation | KudosToken | bare ERC721 | naive URIStorage | Kudos/bare | Kudos/naive | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows(report):
        targets = "; ".join(_target(t) for t in row.targets)
        lines.append(
            f"| {row.operation} | {_gas(row.kudos)} | {_gas(row.bare)} | {_gas(row.naive)} "
            f"| {row.kudos / row.bare:.3f} | {row.kudos / row.naive:.3f} | {targets} |"
        )
    lines += ["", "Targets:"]
    for target in report.targets():
        verdict = "met" if target.met else "NOT MET"
        lines.append(
            f"- {target.description}: {_gas(target.kudos)} / {_gas(target.baseline)} = {target.ratio:.3f} "
            f"(target ≤ {target.limit:.2f}): {verdict}"
        )
    return "\n".join(lines)


def _describe_chain(w3: Any) -> str:
    try:
        vm = w3.provider.ethereum_tester.backend.chain.get_vm()
        return f"py-evm ({type(vm).__name__})"
    except AttributeError:
        return "py-evm"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--baselines",
        type=Path,
        metavar="DIR",
        help="read BareERC721.json and NaiveKudos.json from DIR instead of compiling them",
    )
    args = parser.parse_args(argv)

    baselines: dict[str, Compiled]
    if args.baselines is not None:
        baselines = {name: Compiled.from_file(args.baselines / f"{name}.json") for name in ("BareERC721", "NaiveKudos")}
    else:
        problem = toolchain_problem()
        if problem is not None:
            print(f"error: cannot compile the baselines: {problem}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="kudos-baselines-") as out:
            try:
                baselines = compile_baselines(Path(out))
            except RuntimeError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2

    w3 = new_chain()
    report = GasReport.measure(baselines, w3)
    print(render(report, _describe_chain(w3)))
    return 0 if all(t.met for t in report.targets()) else 1


if __name__ == "__main__":
    sys.exit(main())
