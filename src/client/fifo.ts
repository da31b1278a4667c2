// A first-in first-out queue with O(1) shift: an array and a head index, compacted once the consumed prefix is
// half of it. Array.prototype.shift is O(n) and turned a burst of 200k waiting sends quadratic.
export class Fifo<T> {
  #items: T[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  peek(): T | undefined {
    return this.#items[this.#head]
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined as T
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Removes and returns every item matching `predicate`, keeping the others in order. */
  removeWhere(predicate: (item: T) => boolean): T[] {
    const kept: T[] = []
    const removed: T[] = []
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!
      if (predicate(item)) removed.push(item)
      else kept.push(item)
    }
    this.#items = kept
    this.#head = 0
    return removed
  }
}
