#!/usr/bin/env node
/** `channel-layers`: the command line. */
import { readFileSync } from "node:fs";

const HELP = `usage: channel-layers <command> [options]

commands:
  help        this text
  version     the package version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

const [command = "help"] = process.argv.slice(2);
switch (command) {
  case "help":
  case "--help":
  case "-h":
    console.log(HELP);
    break;
  case "version":
  case "--version":
    console.log(version());
    break;
  default:
    console.error(`channel-layers: unknown command "${command}"\n\n${HELP}`);
    process.exitCode = 2;
}
