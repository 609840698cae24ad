import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { realFs, writeFileAtomic, type FileSystem } from '../../src/platform/fs.js';
import { MemoryFs, PowerCut, isPowerCut } from './memory-fs.js';

/** Runs the same script on the real file system (a temp dir) and on a MemoryFs; returns both transcripts. */
async function both(script: (fs: FileSystem, root: string, say: (x: unknown) => void) => Promise<void>): Promise<[string[], string[]]> {
  const run = async (fs: FileSystem, root: string): Promise<string[]> => {
    const out: string[] = [];
    const say = (x: unknown): void => void out.push(typeof x === 'string' ? x : JSON.stringify(x));
    const isHandle = (v: unknown): v is object => typeof v === 'object' && v !== null && 'datasync' in v;
    const describe = (v: unknown): string => {
      if (v === undefined) return 'ok';
      if (Buffer.isBuffer(v)) return `bytes ${v.toString('hex')}`;
      if (isHandle(v)) return 'handle';
      if (typeof v === 'object' && v !== null && 'ino' in v) return JSON.stringify({ ...v, dev: 'D', ino: 'I' }); // identity differs, by design
      return JSON.stringify(v);
    };
    // Every method call on the file system and its handles is recorded: its value or its error.
    const wrap = <T extends object>(obj: T): T =>
      new Proxy(obj, {
        get: (target, prop) => {
          const v = (target as Record<string | symbol, unknown>)[prop];
          if (typeof v !== 'function') return v;
          return async (...args: unknown[]) => {
            try {
              const got: unknown = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              say(describe(got));
              return isHandle(got) ? wrap(got) : got;
            } catch (err) {
              const e = err as NodeJS.ErrnoException;
              say(`${e.code} ${e.errno} ${e.syscall} ${e.message.replaceAll(root, 'ROOT')}`);
              return undefined;
            }
          };
        },
      });
    await script(wrap(fs), root, say);
    return out;
  };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-memfs-'));
  try {
    const real = await run(realFs, dir);
    const mem = new MemoryFs().preloadDir('/t');
    return [real, await run(mem, '/t')];
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

test('errors match node:fs on Linux: ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL', async () => {
  const [real, mem] = await both(async (fs, r) => {
    await fs.readFile(`${r}/missing`);
    await fs.open(`${r}/missing`, 'update');
    await fs.open(`${r}/missing`, 'read');
    await fs.stat(`${r}/missing`);
    await fs.lstat(`${r}/missing`);
    await fs.readdir(`${r}/missing`);
    await fs.readlink(`${r}/missing`);
    await fs.exists(`${r}/missing`);
    await fs.mkdir(`${r}/d/e`);
    await fs.mkdir(`${r}/d/e`);
    await (await fs.open(`${r}/f`, 'create')).close();
    await fs.open(`${r}/f`, 'exclusive');
    await fs.open(`${r}/f/x`, 'read');
    await fs.mkdir(`${r}/f/g`);
    await fs.mkdir(`${r}/f`);
    await fs.readdir(`${r}/f`);
    await fs.readlink(`${r}/f`);
    await fs.unlink(`${r}/d`);
    await fs.unlink(`${r}/missing`);
    await fs.unlink(`${r}/missing/deeper`);
    await fs.rename(`${r}/f`, `${r}/d`);
    await fs.rename(`${r}/d`, `${r}/f`);
    await fs.rename(`${r}/nope`, `${r}/q`);
    await fs.rename(`${r}/d`, `${r}/d/e/inside`);
    await fs.mkdir(`${r}/full/x`);
    await fs.mkdir(`${r}/empty`);
    await fs.rename(`${r}/empty`, `${r}/full`);
    await fs.symlink('f', `${r}/f`);
    await fs.open(`${r}/d`, 'update');
    await fs.readFile(`${r}/d`);
    await fs.syncDir(`${r}/f`);
    await fs.syncDir(`${r}/missing`);
    await fs.rmrf(`${r}/missing`);
  });
  assert.deepEqual(mem, real);
});

test('rename, symlinks and readdir behave as on Linux', async () => {
  const [real, mem] = await both(async (fs, r, say) => {
    const a = await fs.open(`${r}/a`, 'truncate');
    await a.write(Buffer.from('alpha'), 0);
    await a.close();
    await fs.symlink('a', `${r}/link`);
    say((await fs.readFile(`${r}/link`)).toString());
    say((await fs.lstat(`${r}/link`)).isSymbolicLink);
    say((await fs.stat(`${r}/link`)).size);
    await fs.readlink(`${r}/link`);
    await fs.mkdir(`${r}/sub`);
    await fs.symlink('sub', `${r}/sublink`);
    await fs.rename(`${r}/a`, `${r}/sublink/a2`);
    say((await fs.readdir(`${r}/sub`)).sort());
    say(await fs.exists(`${r}/a`));
    say(await fs.exists(`${r}/link`)); // dangling now, but lstat sees it
    await fs.readFile(`${r}/link`);
    const x = await fs.open(`${r}/link`, 'create'); // O_CREAT through a dangling link creates the target
    await x.close();
    say(await fs.exists(`${r}/a`));
    await fs.rename(`${r}/sub/a2`, `${r}/sub/a2`);
    await fs.rmrf(`${r}/sub`);
    say(await fs.exists(`${r}/sub`));
  });
  assert.deepEqual(mem, real);
});

test('positioned reads and writes, sparse growth with zeros, truncate', async () => {
  const [real, mem] = await both(async (fs, r, say) => {
    const fh = await fs.open(`${r}/img`, 'create');
    await fh.write(Buffer.from('hello'), 10);
    say((await fh.stat()).size);
    const buf = Buffer.alloc(20, 0xee);
    say(await fh.read(buf, 2, 20 - 2, 0));
    say(buf.toString('hex'));
    say(await fh.read(buf, 0, 4, 15));
    await fh.truncate(12);
    await fh.truncate(16);
    const all = await fs.readFile(`${r}/img`);
    say(all.toString('hex'));
    await fh.close();
    const ro = await fs.open(`${r}/img`, 'read');
    await ro.write(Buffer.from('x'), 0);
    await ro.close();
    await ro.read(buf, 0, 1, 0);
    const t = await fs.open(`${r}/img`, 'truncate');
    say((await t.stat()).size);
    await t.close();
  });
  assert.deepEqual(mem, real);
});

test('unsynced file data is lost on a cut; datasync keeps it', async () => {
  const fs = new MemoryFs().preloadFile('/slot', Buffer.alloc(8, 1));
  const fh = await fs.open('/slot', 'update');
  await fh.write(Buffer.alloc(4, 2), 0);
  assert.deepEqual(await fs.readFile('/slot'), Buffer.from([2, 2, 2, 2, 1, 1, 1, 1]), 'reads see volatile data');
  assert.deepEqual(await fs.afterCut().readFile('/slot'), Buffer.alloc(8, 1));

  const fs2 = new MemoryFs().preloadFile('/slot', Buffer.alloc(8, 1));
  const fh2 = await fs2.open('/slot', 'update');
  await fh2.write(Buffer.alloc(4, 2), 6);
  await fh2.datasync();
  await fh2.write(Buffer.alloc(1, 3), 0);
  assert.deepEqual(await fs2.afterCut().readFile('/slot'), Buffer.from([1, 1, 1, 1, 1, 1, 2, 2, 2, 2]));
  void fh;
});

test('a created or renamed entry is durable only after syncDir of its directory', async () => {
  const make = async (syncDir: boolean): Promise<MemoryFs> => {
    const fs = new MemoryFs().preloadDir('/data');
    const fh = await fs.open('/data/new', 'exclusive');
    await fh.write(Buffer.from('x'), 0);
    await fh.sync();
    await fh.close();
    if (syncDir) await fs.syncDir('/data');
    return fs.afterCut();
  };
  assert.equal(await (await make(false)).exists('/data/new'), false);
  assert.equal((await (await make(true)).readFile('/data/new')).toString(), 'x');

  const fs = new MemoryFs().preloadFile('/data/old', 'old').preloadFile('/data/.tmp', 'new');
  await fs.rename('/data/.tmp', '/data/old');
  await fs.unlink('/data/gone');
  const cut = fs.afterCut();
  assert.equal((await cut.readFile('/data/old')).toString(), 'old');
  assert.equal((await cut.readFile('/data/.tmp')).toString(), 'new');
});

test('a file synced and renamed but whose directory was not synced: metadata mode keeps the rename', async () => {
  const fs = new MemoryFs().preloadFile('/d/f', 'old');
  fs.armCut(6, { mode: 'metadata' });
  const fh = await fs.open('/d/.f.tmp', 'truncate'); // 1
  await fh.write(Buffer.from('new'), 0); // 2
  await fh.close();
  await fs.rename('/d/.f.tmp', '/d/f'); // 3: data not synced
  await fs.mkdir('/d/e'); // 4
  await fs.unlink('/d/x'); // 5
  await assert.rejects(fs.syncDir('/d'), PowerCut); // 6
  const after = fs.afterCut();
  assert.equal((await after.readFile('/d/f')).length, 0, 'the rename landed, the data did not (the ext4 zero-length file)');
  assert.equal(await after.exists('/d/e'), true);
});

test('calls are counted and labelled; a cut at k stops that call and every later one', async () => {
  const fs = new MemoryFs().preloadDir('/d');
  await writeFileAtomic(fs, '/d/state', 'v1');
  assert.deepEqual(
    fs.log.map((c) => `${c.n} ${c.op} ${c.path}${c.detail ? ' ' + c.detail : ''}`),
    ['1 open(truncate) /d/.state.tmp', '2 write /d/.state.tmp 2@0', '3 sync /d/.state.tmp', '4 rename /d/.state.tmp -> /d/state', '5 syncDir /d'],
  );
  assert.equal(fs.calls, 5);

  const cut = new MemoryFs().preloadDir('/d').armCut(4);
  const err = await writeFileAtomic(cut, '/d/state', 'v1').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof PowerCut && !err.after && err.call.op === 'rename');
  assert.equal(cut.cutCall?.n, 4);
  await assert.rejects(cut.readFile('/d/.state.tmp'), (e: unknown) => e instanceof PowerCut && e.after);
  await assert.rejects(cut.mkdir('/x'), PowerCut);
  const next = cut.afterCut();
  assert.equal(await next.exists('/d/state'), false);
  assert.equal(await next.exists('/d/.state.tmp'), false, 'created but its directory never synced');
  assert.equal(next.calls, 0);
  assert.ok(isPowerCut(new Error('wrapped', { cause: err })));
});

test('writeFileAtomic leaves the old or the new content at every cut point, in every mode', async () => {
  for (const mode of ['lose', 'torn', 'flushed', 'metadata'] as const) {
    for (let k = 1; k <= 5; k++) {
      const fs = new MemoryFs().preloadFile('/d/state', 'old').armCut(k, { mode });
      await assert.rejects(writeFileAtomic(fs, '/d/state', 'new'), PowerCut);
      const got = (await fs.afterCut().readFile('/d/state')).toString();
      assert.ok(got === 'old' || got === 'new', `${mode} k=${k}: ${JSON.stringify(got)}`);
    }
  }
});

test('torn: a cut write or sync leaves the first half of what it changes on the media', async () => {
  const fs = new MemoryFs().preloadFile('/env', Buffer.alloc(4096, 0xaa)).armCut(2, { mode: 'torn' });
  const fh = await fs.open('/env', 'update'); // 1
  await assert.rejects(fh.write(Buffer.alloc(4096, 0x55), 0), PowerCut); // 2, torn
  const got = await fs.afterCut().readFile('/env');
  assert.deepEqual(got, Buffer.concat([Buffer.alloc(2048, 0x55), Buffer.alloc(2048, 0xaa)]));

  const fs2 = new MemoryFs().preloadFile('/env', Buffer.alloc(4096, 0xaa)).armCut(4, { mode: 'torn', tear: 0.25 });
  const fh2 = await fs2.open('/env', 'update'); // 1
  await fh2.write(Buffer.alloc(1024, 1), 0); // 2
  await fh2.write(Buffer.alloc(1024, 2), 2048); // 3
  await assert.rejects(fh2.sync(), PowerCut); // 4: none of the 2 writes whole, a quarter of the first
  const got2 = await fs2.afterCut().readFile('/env');
  assert.deepEqual(got2, Buffer.concat([Buffer.alloc(256, 1), Buffer.alloc(3840, 0xaa)]));

  // A write that changes only a few bytes tears inside them, not at half its length.
  const fs3 = new MemoryFs().preloadFile('/env', Buffer.alloc(4096)).armCut(2, { mode: 'torn' });
  const fh3 = await fs3.open('/env', 'update');
  const image = Buffer.alloc(4096);
  image.write('crc!slot=b', 0);
  await assert.rejects(fh3.write(image, 0), PowerCut);
  assert.equal((await fs3.afterCut().readFile('/env')).subarray(0, 10).toString('latin1'), 'crc!s\0\0\0\0\0');
});

test('flushed: written data lands even unsynced, but an unsynced new entry still does not', async () => {
  const fs = new MemoryFs().preloadFile('/slot', Buffer.alloc(4)).preloadDir('/d').armCut(5, { mode: 'flushed' });
  const fh = await fs.open('/slot', 'update');
  await fh.write(Buffer.from([9, 9]), 1);
  const n = await fs.open('/d/new', 'create');
  await n.write(Buffer.from('x'), 0);
  await assert.rejects(fh.datasync(), PowerCut);
  const after = fs.afterCut();
  assert.deepEqual(await after.readFile('/slot'), Buffer.from([0, 9, 9, 0]));
  assert.equal(await after.exists('/d/new'), false);
});

test('afterCut with sameSupply keeps counting and the armed cut across power cycles', async () => {
  const fs = new MemoryFs().preloadDir('/d').armCut(3);
  await fs.mkdir('/d/a'); // 1
  const next = fs.afterCut({ sameSupply: true });
  assert.equal(await next.exists('/d/a'), false);
  await next.mkdir('/d/b'); // 2
  await assert.rejects(next.syncDir('/d'), PowerCut); // 3
  assert.equal(next.calls, 3);
  assert.deepEqual(
    next.log.map((c) => c.op),
    ['mkdir', 'mkdir', 'syncDir'],
  );
  await assert.rejects(fs.mkdir('/d/c'), PowerCut, 'the machine that was cut stays off');
});

test('hard-link-like sharing survives afterCut: two durable names, one inode', async () => {
  const fs = new MemoryFs().preloadFile('/x/f', 'data').preloadDir('/y');
  await fs.rename('/x/f', '/y/f');
  await fs.syncDir('/y'); // the new name is durable, the old one not yet removed durably
  const after = fs.afterCut();
  assert.equal((await after.stat('/x/f')).ino, (await after.stat('/y/f')).ino);
});

test('a planned cut fires once at the first matching call; clone copies the durable disk and leaves the original running', async () => {
  const fs = new MemoryFs().preloadFile('/img', Buffer.alloc(4));
  let writes = 0;
  fs.planCut((c) => c.op === 'write' && ++writes === 2);
  const fh = await fs.open('/img', 'update');
  await fh.write(Buffer.from([1]), 0);
  await fh.datasync();
  await assert.rejects(fh.write(Buffer.from([2]), 1), PowerCut);
  assert.equal(fs.cutWasPlanned, true);
  const next = fs.afterCut({ sameSupply: true });
  assert.deepEqual(await next.readFile('/img'), Buffer.from([1, 0, 0, 0]));
  const again = await next.open('/img', 'update');
  await again.write(Buffer.from([3]), 2); // the plan was used up
  assert.equal(next.calls, 6);

  const copy = next.clone();
  await again.datasync();
  assert.deepEqual(await copy.readFile('/img'), Buffer.from([1, 0, 0, 0]), 'the clone took the durable state of that moment');
  await (await copy.open('/img', 'update')).write(Buffer.from([9]), 0);
  assert.deepEqual(await next.readFile('/img'), Buffer.from([1, 0, 3, 0]), 'writes to the clone do not reach the original');
  assert.equal(copy.calls, 2, "a clone has its own supply");
});

test('fingerprints are equal for equal trees and differ when a byte, a name or a size differs', async () => {
  const make = (name: string, data: number[]): MemoryFs => new MemoryFs().preloadFile(`/d/${name}`, Buffer.from(data)).preloadDir('/e');
  const a = make('f', [1, 2, 3]).fingerprint();
  assert.equal(a, make('f', [1, 2, 3]).fingerprint());
  assert.equal(a, make('f', [1, 2, 3]).afterCut().fingerprint());
  assert.notEqual(a, make('f', [1, 2, 4]).fingerprint());
  assert.notEqual(make('f', [1, 2, 3]).fingerprint(), make('g', [1, 2, 3]).fingerprint());
  assert.notEqual(make('f', [1, 2, 3]).fingerprint(), make('f', [1, 2, 3, 0]).fingerprint());
  const b = make('f', [1, 2, 3]);
  await (await b.open('/d/f', 'update')).write(Buffer.from([7]), 0);
  assert.notEqual(b.fingerprint(), make('f', [1, 2, 3]).fingerprint(), 'volatile changes count');
});
