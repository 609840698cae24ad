// A small systemd unit-file reader for the tests: sections of key=value lists, comments
// dropped, so a test checks the keys that matter instead of a byte-exact snapshot.

export type UnitFile = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      if (unit.has(head[1]!)) throw new Error(`section [${head[1]}] twice`);
      section = new Map();
      unit.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`not a unit-file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The one value of `key` in `section`; throws when absent or repeated. */
export function one(unit: UnitFile, section: string, key: string): string {
  const values = unit.get(section)?.get(key);
  if (!values || values.length !== 1) throw new Error(`[${section}] ${key}: expected one value, got ${JSON.stringify(values)}`);
  return values[0]!;
}
