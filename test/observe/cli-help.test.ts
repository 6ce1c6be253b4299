/** `--help` after a command prints that command's options; an unknown flag points at them. */
import { execFile } from "node:child_process";
import { expect, it } from "vitest";
import { CLI } from "../../bench/backends/broker.js";
import { nodeArgs } from "../children.js";

/** One run of the CLI: its output and exit status. Runs are started together: each is a process start, the slow part. */
const cli = (...args: string[]): Promise<{ stdout: string; stderr: string; status: number | null }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [...nodeArgs(CLI), ...args], { encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, status: err === null ? 0 : typeof err.code === "number" ? err.code : null });
    });
  });

it("each command's --help prints its own options, and version --help does not print the version", async () => {
  const commands = ["serve", "stats", "worker", "gateway"];
  const [helps, version, help] = await Promise.all([Promise.all(commands.map((command) => cli(command, "--help"))), cli("version", "--help"), cli("help")]);
  commands.forEach((command, i) => {
    const { stdout, status } = helps[i]!;
    expect(status).toBe(0);
    expect(stdout, command).toMatch(new RegExp(`^${command} options \\(channel-layers ${command}`));
    expect(stdout, command).not.toMatch(/^commands:/m);
  });
  expect(version.stdout).toMatch(/^usage: channel-layers version/);
  expect(help.stdout).toMatch(/channel-layers COMMAND --help/);
});

it("an unknown flag is one line that points at the command's --help", async () => {
  const { stderr, status } = await cli("serve", "--bogus");
  expect(status).toBe(2);
  expect(stderr.trim().split("\n")).toEqual(["channel-layers: Unknown option '--bogus' (see channel-layers serve --help)"]);
});
