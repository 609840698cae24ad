// A loop's way to sleep until something happens: poke() wakes the current wait (or the next
// one, if nothing waits yet), wait(ms) also ends after a timeout. One waiter at a time.

export class Wakeup {
  private resolve: (() => void) | undefined;
  private poked = false;

  poke(): void {
    if (this.resolve) {
      const r = this.resolve;
      this.resolve = undefined;
      r();
    } else {
      this.poked = true;
    }
  }

  /** Resolves on the next poke (or one that came since the last wait), or after `ms`. */
  wait(ms = Infinity): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.resolve = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          this.resolve = undefined;
          resolve();
        }, Math.max(0, ms));
      }
    });
  }

  /** Sleeps `ms` regardless of pokes, keeping a poke that arrives meanwhile for the next wait. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
