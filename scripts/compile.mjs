#!/usr/bin/env node
// Compiles the Solidity sources with the solc pinned in contracts/package.json and writes one JSON
// artifact per contract.
//
//   node scripts/compile.mjs                      KudosToken -> kudos_chain/artifacts/KudosToken.json
//   node scripts/compile.mjs --out DIR            the same, into DIR
//   node scripts/compile.mjs --baselines --out DIR  the gas baselines of contracts/baselines/
//
// The compilation is reproducible: the same sources, compiler and settings give byte-identical artifacts,
// which is what tests/contracts/test_artifact.py checks.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CONTRACTS = join(ROOT, "contracts");
const NODE_MODULES = join(CONTRACTS, "node_modules");

if (!existsSync(join(NODE_MODULES, "solc"))) {
  console.error("error: the pinned solc is not installed; run `npm ci --prefix contracts` first");
  process.exit(2);
}
const solc = createRequire(join(CONTRACTS, "package.json"))("solc");

/** The settings every contract of this project is compiled with. */
export const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 10000 },
  viaIR: false,
  metadata: { bytecodeHash: "ipfs" },
  outputSelection: {
    "*": {
      "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers", "metadata"],
    },
  },
};

function parseArgs(argv) {
  const args = { out: join(ROOT, "kudos_chain", "artifacts"), baselines: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") args.out = resolve(argv[++i]);
    else if (argv[i] === "--baselines") args.baselines = true;
    else {
      console.error(`error: unknown argument ${argv[i]}`);
      process.exit(2);
    }
  }
  return args;
}

/** Resolves an import as solc names it: our own sources under the root, libraries under node_modules. */
function findImports(path) {
  for (const base of [ROOT, NODE_MODULES]) {
    const file = join(base, path);
    if (existsSync(file)) return { contents: readFileSync(file, "utf8") };
  }
  return { error: `source not found: ${path}` };
}

function compile(entries) {
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(entries.map((p) => [p, { content: readFileSync(join(ROOT, p), "utf8") }])),
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  // Our own sources must compile without a warning; the audited libraries' warnings are counted, not shown.
  const diagnostics = output.errors ?? [];
  const ours = diagnostics.filter((e) => e.severity === "error" || e.sourceLocation?.file?.startsWith("contracts/"));
  for (const e of ours) console.error(e.formattedMessage);
  const library = diagnostics.length - ours.length;
  if (library > 0) console.error(`(${library} warnings in the pinned libraries' sources not shown)`);
  if (ours.some((e) => e.severity === "error")) process.exit(1);
  return output;
}

function artifact(sourceName, contractName, out) {
  const metadata = JSON.parse(out.metadata);
  const sources = Object.fromEntries(
    Object.entries(metadata.sources)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([path, s]) => [path, s.keccak256]),
  );
  const sourceHash = createHash("sha256").update(JSON.stringify(sources)).digest("hex");
  return {
    contractName,
    sourceName,
    abi: out.abi,
    bytecode: `0x${out.evm.bytecode.object}`,
    deployedBytecode: `0x${out.evm.deployedBytecode.object}`,
    methodIdentifiers: out.evm.methodIdentifiers,
    compiler: { name: "solc", version: solc.version() },
    settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer, viaIR: SETTINGS.viaIR },
    sourceHash: `sha256:${sourceHash}`,
    sources,
  };
}

const args = parseArgs(process.argv.slice(2));
const entries = args.baselines
  ? readdirSync(join(CONTRACTS, "baselines"))
      .filter((f) => f.endsWith(".sol"))
      .sort()
      .map((f) => `contracts/baselines/${f}`)
  : ["contracts/KudosToken.sol"];
const output = compile(entries);
mkdirSync(args.out, { recursive: true });
for (const sourceName of entries) {
  for (const [contractName, out] of Object.entries(output.contracts[sourceName])) {
    const file = join(args.out, `${contractName}.json`);
    writeFileSync(file, `${JSON.stringify(artifact(sourceName, contractName, out), null, 2)}\n`);
    console.log(`wrote ${file}`);
  }
}
