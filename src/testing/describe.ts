/**
 * `describeChannelLayer`: the project's conformance suite, as one call for
 * any layer factory. The project's own backends run their conformance
 * through it, so a third-party backend meets exactly the cases ours do.
 */
import type { ChannelLayer, LayerOptions } from "../layer.js";
import type { Capability as ContractCapability } from "./conformance/capabilities.js";
import { conformance } from "./conformance/suite.js";
import { requestConformance } from "./conformance/request.js";
import { presenceConformance } from "./conformance/presence.js";
import { trafficConformance } from "./conformance/traffic.js";
import { vitest } from "./vitest.js";

/** Parts of the contract a backend may declare it cannot keep; the cases that need one are skipped with the reason. */
export type Capability =
  /** Priorities, rate limits, overflow policies and dead letters (the "priority" extension and its traffic options). */
  | "trafficControl"
  /** Presence entries on memberships, with join/leave events (docs/presence.md): groupAdd's `presence`, presence(), presenceCount(). */
  | "presence"
  /** The contract's own capabilities a backend such as pub/sub cannot keep (see conformance/capabilities.ts). */
  | ContractCapability;

export interface ChannelLayerSuiteOptions {
  /** A new layer instance on the backend under test, honouring `options`. Every layer made is closed after its test. */
  make(options?: LayerOptions): ChannelLayer | Promise<ChannelLayer>;
  /** Whether two instances share channels and groups (a networked backend); false for an in-process one. Default false. */
  shared?: boolean;
  /** Extra milliseconds for expiry cases, for a backend whose clock is coarse (Redis TTLs). Default 0. */
  expirySlackMs?: number;
  /** What the backend cannot keep, each with the reason the test report shows; every other case must pass. */
  capabilities?: Partial<Record<Capability, string>>;
  /**
   * Resolves once everything `layer`'s earlier calls started has taken effect in the backend, so that
   * a message a channel holds has reached a receive waiting there. Given, the suite proves a channel
   * empty by starting a receive, settling and withdrawing it, instead of waiting out a 60 ms receive.
   * Default: none (the wall clock).
   */
  settle?: (layer: ChannelLayer) => Promise<void>;
  /**
   * The clock every layer `make` returns reads (a `TestClock` given to them): expiry, group expiry,
   * history and rate-limit cases advance it instead of sleeping. Default: none (the wall clock).
   */
  clock?: { advance(ms: number): void };
}

/** Register the conformance suite for `name` with vitest's `describe` and `it`; call it at the top level of a test file. */
export function describeChannelLayer(name: string, options: ChannelLayerSuiteOptions): void {
  const { describe } = vitest("describeChannelLayer()");
  if (typeof options?.make !== "function") throw new TypeError(`describeChannelLayer("${name}"): options.make must be a function that returns a new layer`);
  const { trafficControl, presence, ...lacks } = options.capabilities ?? {};
  const { settle, clock } = options;
  if (settle !== undefined && typeof settle !== "function") throw new TypeError(`describeChannelLayer("${name}"): options.settle must be a function of a layer that returns a promise`);
  if (clock !== undefined && typeof clock?.advance !== "function") throw new TypeError(`describeChannelLayer("${name}"): options.clock must have advance(ms) (a TestClock)`);
  // make() is called as a plain function by the suite, as documented.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const target = { name, make: options.make, shared: options.shared ?? false, expirySlackMs: options.expirySlackMs, lacks, settle, clock };
  conformance(target);
  if (trafficControl === undefined) trafficConformance(target);
  else describe.skip(`traffic control: ${name} [skipped, lacks trafficControl: ${trafficControl}]`, () => trafficConformance(target));
  if (presence === undefined) presenceConformance(target);
  else describe.skip(`presence: ${name} [skipped, lacks presence: ${presence}]`, () => presenceConformance(target));
  requestConformance(target);
}
