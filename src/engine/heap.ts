/**
 * A binary min-heap of items keyed by a deadline, each item knowing its own
 * slot so that it can be moved or removed in O(log n). The engine keeps one
 * for channels (by their oldest message) and one for groups (by their oldest
 * membership), so a sweep visits only what is due.
 */

export interface HeapItem {
  /** The deadline (ms) this item is due at. */
  key: number;
  /** Slot in the heap; -1 when not in it. */
  heapIndex: number;
}

export class DeadlineHeap<T extends HeapItem> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** Insert `item`, or move it if it is in already. */
  set(item: T, key: number): void {
    item.key = key;
    if (item.heapIndex === -1) {
      item.heapIndex = this.items.length;
      this.items.push(item);
    }
    this.up(item.heapIndex);
    this.down(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i === -1) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIndex = i;
      this.up(i);
      this.down(last.heapIndex);
    }
  }

  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items = [];
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.key <= item.key) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && items[r]!.key < items[l]!.key ? r : l;
      const child = items[c]!;
      if (child.key >= item.key) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
