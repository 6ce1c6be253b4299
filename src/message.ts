/**
 * Validate and copy a message in one walk (SPEC §2). The copy is what gets
 * stored, so mutating the sender's object afterwards changes nothing, and the
 * walk adds up an upper bound of the msgpack size so that the exact size is
 * only computed for messages near the limit.
 */
import { MessageTooLargeError } from "./errors.js";
import type { Message, MessageValue } from "./layer.js";

export const RESERVED_KEY = "__asgi_channel__";
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

type Path = Array<string | number>;

function formatPath(path: Path): string {
  let out = "message";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return out;
}

function kindOf(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "object" && value !== null) {
    const name = (value as object).constructor?.name;
    return name ? name : "an object with a foreign prototype";
  }
  return typeof value;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

class Walk {
  /** Upper bound of the msgpack encoding, in bytes. */
  size = 0;
  private readonly path: Path = [];
  private readonly ancestors: object[] = [];

  /** `wideInts`: integers past 32 bits become bigints, so msgpack writes int64, not float64. */
  constructor(private readonly wideInts: boolean) {}

  fail(reason: string): never {
    throw new TypeError(`${formatPath(this.path)}: ${reason}`);
  }

  copy(value: unknown): MessageValue {
    switch (typeof value) {
      case "string":
        this.size += 5 + 3 * value.length;
        return value;
      case "number":
        this.size += 9;
        if (this.wideInts && Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000)) return BigInt(value);
        return value;
      case "boolean":
        this.size += 1;
        return value;
      case "bigint":
        if (value < INT64_MIN || value > INT64_MAX) this.fail(`bigint ${value} is outside int64`);
        this.size += 9;
        return value;
      case "object":
        if (value === null) {
          this.size += 1;
          return null;
        }
        return this.copyObject(value);
      default:
        return this.fail(`${kindOf(value)} is not allowed`);
    }
  }

  private copyObject(value: object): MessageValue {
    if (value instanceof Uint8Array) {
      this.size += 5 + value.byteLength;
      return Buffer.isBuffer(value) ? Buffer.from(value) : value.slice();
    }
    if (this.ancestors.includes(value)) this.fail("a cycle is not allowed (the value contains itself)");
    this.ancestors.push(value);
    let out: MessageValue;
    if (Array.isArray(value)) {
      this.size += 5;
      const arr: MessageValue[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) {
        this.path.push(i);
        // A hole reads as undefined, which `copy` refuses, as it should.
        arr[i] = this.copy(value[i]);
        this.path.pop();
      }
      out = arr;
    } else if (isPlainObject(value)) {
      out = this.copyEntries(value);
    } else {
      this.fail(`${kindOf(value)} is not allowed (only plain objects, arrays, strings, numbers, bigints, booleans, null and Uint8Array)`);
    }
    this.ancestors.pop();
    return out;
  }

  /** Copy the top-level message: it is its own first ancestor, for cycle detection. */
  root(message: Record<string, unknown>): Message {
    this.ancestors.push(message);
    return this.copyEntries(message) as Message;
  }

  private copyEntries(value: Record<string, unknown>): { [key: string]: MessageValue } {
    this.size += 5;
    if (Object.getOwnPropertySymbols(value).length > 0) this.fail("symbol keys are not allowed");
    const obj: { [key: string]: MessageValue } = {};
    for (const key in value) {
      this.path.push(key);
      this.size += 5 + 3 * key.length;
      const v = this.copy(value[key]);
      // defineProperty keeps a key named "__proto__" an own data key, as it was sent.
      if (key === "__proto__") Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
      else obj[key] = v;
      this.path.pop();
    }
    return obj;
  }
}

/**
 * Validate `message` and return an independent copy, with an upper bound of
 * its encoded size. Throws a TypeError naming the path of the first bad value.
 */
export function copyMessage(message: unknown, options: { wideInts?: boolean } = {}): { copy: Message; sizeBound: number } {
  if (typeof message !== "object" || message === null || Array.isArray(message) || !isPlainObject(message)) {
    throw new TypeError(`message must be a plain object with a string "type", got ${kindOf(message)}`);
  }
  if (typeof message.type !== "string") {
    throw new TypeError(`message.type must be a string (consumers dispatch on it), got ${kindOf(message.type)}`);
  }
  if (Object.prototype.hasOwnProperty.call(message, RESERVED_KEY)) {
    throw new TypeError(`message.${RESERVED_KEY} is reserved for the layer's own routing`);
  }
  const walk = new Walk(options.wideInts ?? false);
  const copy = walk.root(message);
  return { copy, sizeBound: walk.size };
}

/** Copy a message already known to be valid (fan-out to several members). */
export function cloneMessage(message: Message): Message {
  return cloneValue(message) as Message;
}

function cloneValue(value: MessageValue): MessageValue {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? Buffer.from(value) : value.slice();
  if (Array.isArray(value)) return value.map(cloneValue);
  const out: { [key: string]: MessageValue } = {};
  for (const key in value) {
    const v = cloneValue(value[key]!);
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

/**
 * Reject a message whose encoding is over `limit`. `encodedSize` runs only
 * when the cheap upper bound says the message might be too large.
 */
export function checkSize(sizeBound: number, limit: number, encodedSize: () => number): void {
  if (sizeBound <= limit) return;
  const size = encodedSize();
  if (size > limit) throw new MessageTooLargeError(size, limit);
}
