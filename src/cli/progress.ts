// A small progress bar for the terminal (no dependency: device builds stay small). On a TTY
// it redraws one line at most 10 times a second; elsewhere it prints a line every 10%.

export interface Progress {
  update(done: number): void;
  finish(message?: string): void;
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatBytes(n: number): string {
  return human(n);
}

export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, label: string, total: number, enabled = true): Progress {
  const started = Date.now();
  let lastDraw = 0;
  let lastDecile = -1;
  const tty = stream.isTTY === true;
  const line = (done: number): string => {
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 45));
    const fill = Math.round((pct / 100) * width);
    return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct.toFixed(0).padStart(3)}% ${human(done)}/${human(total)} ${human(done / secs)}/s`;
  };
  return {
    update(done) {
      if (!enabled) return;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        stream.write(`\r${line(done)}`);
      } else {
        const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
        if (decile > lastDecile) {
          lastDecile = decile;
          stream.write(`${line(done)}\n`);
        }
      }
    },
    finish(message) {
      if (!enabled) return;
      if (tty) stream.write(`\r${line(total)}\n`);
      if (message) stream.write(`${message}\n`);
    },
  };
}
