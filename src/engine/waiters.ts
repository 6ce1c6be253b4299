/**
 * Receivers waiting on one channel, first come first served, in a doubly
 * linked list so that a cancelled receive leaves in O(1) without leaving a
 * dead entry behind.
 */

export interface Waiter<T> {
  /**
   * Hand `body` over. Returns false when this receiver can no longer take it
   * (its connection went away), and the engine offers it to the next one.
   * `seq` is the message's place in its channel's order (engines that hold
   * ahead only), to be given back with it.
   */
  deliver(body: T, deadline: number, priority: number, seq: number): boolean;
}

export interface WaitHandle {
  /** Stop waiting; a no-op once the waiter was served or cancelled. Returns whether it was still waiting. */
  cancel(): boolean;
}

class Node<T, W extends Waiter<T>> implements WaitHandle {
  prev: Node<T, W> | undefined;
  next: Node<T, W> | undefined;
  linked = true;
  constructor(
    readonly waiter: W,
    private readonly list: WaiterList<T, W>,
    private readonly onCancel: (() => void) | undefined,
  ) {}
  cancel(): boolean {
    if (!this.linked) return false;
    this.list.unlink(this);
    (this.onCancel ?? this.list.onCancel)();
    return true;
  }
}

export class WaiterList<T, W extends Waiter<T> = Waiter<T>> {
  private head: Node<T, W> | undefined;
  private tail: Node<T, W> | undefined;
  size = 0;
  /**
   * Called after a waiter cancels, unless it was pushed with its own: one
   * function for the list rather than a closure for each wait (a standing
   * receive waits again after every message).
   */
  onCancel: () => void = () => {};

  push(waiter: W, onCancel?: () => void): WaitHandle {
    const node = new Node(waiter, this, onCancel);
    node.prev = this.tail;
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.size++;
    return node;
  }

  /** Remove and return the longest-waiting receiver. */
  shift(): W | undefined {
    const node = this.head;
    if (!node) return undefined;
    this.unlink(node);
    return node.waiter;
  }

  unlink(node: Node<T, W>): void {
    if (!node.linked) return;
    node.linked = false;
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
    this.size--;
  }

  /** Remove every waiter, oldest first (used by close). */
  drain(): W[] {
    const out: W[] = [];
    for (let w = this.shift(); w; w = this.shift()) out.push(w);
    return out;
  }
}
