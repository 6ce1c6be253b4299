// Prints "N passed, N failed[, N skipped]" from vitest's JSON report: the
// closing line CI reads. Exits non-zero when the report is missing or ran nothing.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? ".test-report/vitest.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (err) {
  console.log(`no test report at ${file}: ${err.message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const suiteErrors = (report.testResults ?? []).filter((s) => s.status === "failed" && (s.assertionResults ?? []).every((a) => a.status !== "failed"));
for (const s of suiteErrors) console.log(`suite failed to run: ${s.name}: ${(s.message ?? "").split("\n")[0]}`);
const totalFailed = failed + suiteErrors.length;
console.log(`${passed} passed, ${totalFailed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(totalFailed > 0 || passed === 0 ? 1 : 0);
