// Prints "N passed, N failed[, N skipped]" summed over vitest's JSON reports
// (one per test tier): the closing line CI reads. Before it, each tier's five
// slowest files, with their wall time, so a run shows where its minutes went.
// Exits non-zero when a report is missing, something failed, or nothing passed at all.
import { readFileSync } from "node:fs";

const files = process.argv.length > 2 ? process.argv.slice(2) : [".test-report/vitest.json"];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    console.log(`no test report at ${file}: ${err.message}`);
    failed += 1;
    continue;
  }
  const slowest = (report.testResults ?? [])
    .map((s) => ({ name: s.name.replace(`${process.cwd()}/`, ""), ms: (s.endTime ?? 0) - (s.startTime ?? 0) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 5);
  console.log(`slowest in ${file}: ${slowest.map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)} s`).join(", ")}`);
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  const suiteErrors = (report.testResults ?? []).filter(
    (s) => s.status === "failed" && (s.assertionResults ?? []).every((a) => a.status !== "failed"),
  );
  for (const s of suiteErrors) console.log(`suite failed to run: ${s.name}: ${(s.message ?? "").split("\n")[0]}`);
  failed += suiteErrors.length;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
