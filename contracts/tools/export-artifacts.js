#!/usr/bin/env node
// Copies the ABI and bytecode of each IPPOC contract from forge's out/ into
// artifacts/, the committed form the Rust bridge builds from (so `cargo
// build` needs neither node nor forge). CI rebuilds and diffs them.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const contracts = ["StakeToken", "Governance", "Anchor", "Treasury", "Parameters", "EvolutionRegistry"];
const outDir = path.join(root, "artifacts");
fs.mkdirSync(outDir, { recursive: true });

for (const name of contracts) {
  const built = JSON.parse(fs.readFileSync(path.join(root, "out", `${name}.sol`, `${name}.json`), "utf8"));
  const artifact = {
    contractName: name,
    abi: built.abi,
    bytecode: { object: built.bytecode.object },
    deployedBytecode: { object: built.deployedBytecode.object },
  };
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
}
console.log(`exported ${contracts.length} artifacts to ${path.relative(process.cwd(), outDir) || "."}`);
