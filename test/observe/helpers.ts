/** A broker with its HTTP side door, both on OS-assigned ports, and a reader of Prometheus text. */
import { BrokerServer, type BrokerServerOptions } from "../../src/index.js";
import { ObserveServer, type ObserveServerOptions } from "../../src/observe/http.js";

export interface Observed {
  server: BrokerServer;
  /** The broker's tcp:// URL. */
  url: string;
  observe: ObserveServer;
  /** The HTTP side's base URL, e.g. http://127.0.0.1:41234. */
  http: string;
  close(): Promise<void>;
}

export async function startObserved(options: BrokerServerOptions = {}, http: ObserveServerOptions = {}): Promise<Observed> {
  const server = new BrokerServer({ listen: "tcp://127.0.0.1:0", ...options });
  const [url] = await server.listen();
  const observe = new ObserveServer(server.broker, { listen: "127.0.0.1:0", ...http });
  const base = await observe.listen();
  return { server, url: url!, observe, http: base, close: async () => void (await Promise.all([observe.close(), server.close()])) };
}

/** One sample of the text format: `name{label="value",…} number`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse Prometheus text exposition format (0.0.4): comments skipped, every sample kept. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!.replace(/\\(.)/g, "$1");
    samples.push({ name: m[1]!, labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; throws if there is none. */
export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return found.value;
}

export async function scrape(http: string): Promise<Sample[]> {
  const res = await fetch(`${http}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}
