/** `--help` after a command prints that command's options; an unknown flag points at them. */
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { CLI } from "../../bench/backends/broker.js";

const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8" });

it("each command's --help prints its own options, and version --help does not print the version", () => {
  for (const command of ["serve", "stats", "worker", "gateway"]) {
    const { stdout, status } = cli(command, "--help");
    expect(status).toBe(0);
    expect(stdout, command).toMatch(new RegExp(`^${command} options \\(channel-layers ${command}`));
    expect(stdout, command).not.toMatch(/^commands:/m);
  }
  expect(cli("version", "--help").stdout).toMatch(/^usage: channel-layers version/);
  expect(cli("help").stdout).toMatch(/channel-layers COMMAND --help/);
});

it("an unknown flag is one line that points at the command's --help", () => {
  const { stderr, status } = cli("serve", "--bogus");
  expect(status).toBe(2);
  expect(stderr.trim().split("\n")).toEqual(["channel-layers: Unknown option '--bogus' (see channel-layers serve --help)"]);
});
