// The device config (DEVICE.json): which board this is, where its slots, env and data live,
// which keys it trusts, how it reaches the broker and which worker it supervises. The board
// profile supplies defaults; relative paths resolve against the config file's folder.
// Field reference: docs/device-config.md.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { EnvCopySchema, SlotDeviceSchema, loadProfile, type BoardProfile, type EnvCopy, type SlotDevice } from '../board/profile.js';

const EnvSchema = z.discriminatedUnion('backend', [
  z
    .object({
      backend: z.literal('uboot'),
      /** An fw_env.config file; when absent, `copies` or the board profile's env copies. */
      fwEnvConfig: z.string().optional(),
      copies: z.array(EnvCopySchema).min(1).max(2).optional(),
    })
    .strict(),
  z.object({ backend: z.literal('file'), path: z.string() }).strict(),
]);

const SocketSchema = z.union([
  z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]+$/), tcp: z.string().regex(/^(?:\[[^\]]+\]|[^:]+)?:\d+$/, 'host:port') }).strict(),
  z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]+$/), unix: z.string() }).strict(),
]);

const WorkerSchema = z
  .object({
    /** argv of the worker; `{app}` is replaced by the current application folder. */
    command: z.array(z.string()).min(1),
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
    sockets: z.array(SocketSchema).default([]),
    /** Trial boot / app swap: the worker must report healthy within this many seconds. */
    healthWindowSeconds: z.number().positive().default(60),
    /** After READY, a trial boot watches the worker this long: an exit or a missed heartbeat fails it. */
    trialSeconds: z.number().nonnegative().default(10),
    /** Once healthy, a missing heartbeat for this long counts as a failure. */
    heartbeatTimeoutSeconds: z.number().positive().default(15),
    /** After a new worker is healthy, how long the old one may drain before SIGTERM. */
    drainSeconds: z.number().nonnegative().default(5),
    /** SIGKILL this long after SIGTERM. */
    terminateTimeoutSeconds: z.number().positive().default(5),
    restartBackoff: z
      .object({ initialMs: z.number().positive().default(500), maxMs: z.number().positive().default(30000) })
      .strict()
      .default({ initialMs: 500, maxMs: 30000 }),
    /** A worker config file that config-only updates replace, followed by SIGHUP to the worker. */
    configFile: z.string().optional(),
    /** Command run with the staged app payload path; a non-zero exit vetoes the install. */
    preInstall: z.array(z.string()).min(1).optional(),
  })
  .strict();

const BrokerSchema = z
  .object({
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
    username: z.string().optional(),
    password: z.string().optional(),
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    topicPrefix: z.string().regex(/^[^#+]+$/).default('slotflip'),
    keepaliveSeconds: z.number().int().positive().default(30),
  })
  .strict();

const DeviceConfigSchema = z
  .object({
    deviceId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)'),
    board: z.string().min(1),
    group: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
    dataDir: z.string(),
    trustedKeys: z.array(z.string()).min(1),
    /** Keys whose signatures are no longer accepted, by key id (hex). */
    revokedKeys: z.array(z.string().regex(/^[0-9a-f]{16}$/)).default([]),
    slots: z.object({ a: SlotDeviceSchema, b: SlotDeviceSchema }).strict().optional(),
    env: EnvSchema.optional(),
    /** Where the agent learns which slot booted: the kernel command line, or a file (tests). */
    bootedSlot: z
      .union([
        z.object({ cmdline: z.string().default('/proc/cmdline'), param: z.string().optional() }).strict(),
        z.object({ file: z.string() }).strict(),
      ])
      .default({ cmdline: '/proc/cmdline' }),
    rebootCommand: z.array(z.string()).min(1).optional(),
    broker: BrokerSchema.optional(),
    worker: WorkerSchema.optional(),
    /** Release downloads: fsync after this many chunks (the window lost to a power cut). */
    syncEveryChunks: z.number().int().positive().default(32),
    bufferSize: z.number().int().min(4096).max(16 * 1024 * 1024).optional(),
    /**
     * The agent feeds the hardware watchdog: true takes the board profile's device and
     * timeout (a keep-alive every third of it); or name the device and the interval.
     */
    watchdog: z.union([z.boolean(), z.object({ device: z.string(), intervalSeconds: z.number().positive() }).strict()]).default(false),
  })
  .strict();

export type DeviceConfigInput = z.input<typeof DeviceConfigSchema>;
export type WorkerConfig = z.infer<typeof WorkerSchema>;
export type BrokerConfig = z.infer<typeof BrokerSchema>;
export type SocketSpec = z.infer<typeof SocketSchema>;

export type EnvLocation = { backend: 'uboot'; copies: EnvCopy[] } | { backend: 'file'; path: string };

/** The config with the board's defaults applied and every path absolute. */
export interface DeviceConfig {
  file: string | undefined;
  deviceId: string;
  group: string | undefined;
  board: BoardProfile;
  dataDir: string;
  trustedKeys: string[];
  revokedKeys: string[];
  slots: { a: SlotDevice; b: SlotDevice };
  env: EnvLocation;
  slotVariable: string;
  bootlimit: number;
  bootedSlot: { cmdline: string; param: string } | { file: string };
  rebootCommand: string[];
  broker: BrokerConfig | undefined;
  worker: WorkerConfig | undefined;
  syncEveryChunks: number;
  bufferSize: number;
  /** The hardware watchdog the agent feeds, if any. */
  watchdog: { device: string; intervalMs: number } | undefined;
}

/** C strtoll(s, 0) as fw_env.c reads the offset: 0x hex, leading 0 octal, else decimal. */
function cNumber(s: string): number {
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  let n: number;
  if (/^0x[0-9a-f]+$/i.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[0-7]*$/.test(body)) n = parseInt(body, 8);
  else if (/^[1-9][0-9]*$/.test(body)) n = parseInt(body, 10);
  else n = NaN;
  return neg ? -n : n;
}

/** fw_env.c reads sizes with strtoul(s, 16): hex whether or not they say 0x. */
function hexNumber(s: string): number {
  return /^(0x)?[0-9a-f]+$/i.test(s) ? parseInt(s.replace(/^0x/i, ''), 16) : NaN;
}

/**
 * Parses fw_env.config text: `DEVICE OFFSET SIZE [SECTOR_SIZE [SECTORS]]`, '#' comments,
 * numbers read as U-Boot's and libubootenv's tools read them (sizes always hex).
 */
export function parseFwEnvConfig(text: string, source = 'fw_env.config'): EnvCopy[] {
  const copies: EnvCopy[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const f = line.split(/\s+/);
    const num = (s: string | undefined, what: string, read: (s: string) => number): number | undefined => {
      if (s === undefined) return undefined;
      const n = read(s);
      if (!Number.isSafeInteger(n)) throw new ConfigError(`${source}:${i + 1}: ${what} "${s}" is not a number`);
      return n;
    };
    if (f.length < 3) throw new ConfigError(`${source}:${i + 1}: expected DEVICE OFFSET SIZE [SECTOR_SIZE [SECTORS]]`);
    const size = num(f[2], 'size', hexNumber)!;
    if (size <= 0) throw new ConfigError(`${source}:${i + 1}: size must be positive`);
    const copy: EnvCopy = { device: f[0]!, offset: num(f[1], 'offset', cNumber)!, size };
    const sector = num(f[3], 'sector size', hexNumber);
    const sectors = num(f[4], 'sector count', cNumber);
    if (sector) copy.sectorSize = sector;
    if (sectors) copy.sectors = sectors;
    copies.push(copy);
  });
  if (copies.length < 1 || copies.length > 2) throw new ConfigError(`${source}: expected one or two environment lines, found ${copies.length}`);
  return copies;
}

export function resolveDeviceConfig(json: unknown, file?: string): DeviceConfig {
  const source = file ?? 'device config';
  const parsed = DeviceConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { details: { file: source } });
  }
  const c = parsed.data;
  const base = file ? path.dirname(path.resolve(file)) : process.cwd();
  const abs = (p: string): string => path.resolve(base, p);
  const board = loadProfile(c.board.includes('/') || c.board.endsWith('.json') ? abs(c.board) : c.board);

  const slotsIn = c.slots ?? board.slots;
  const slots = { a: { ...slotsIn.a, device: abs(slotsIn.a.device) }, b: { ...slotsIn.b, device: abs(slotsIn.b.device) } };

  let env: EnvLocation;
  const envIn = c.env ?? { backend: 'uboot' as const };
  if (envIn.backend === 'file') {
    env = { backend: 'file', path: abs(envIn.path) };
  } else if (envIn.fwEnvConfig) {
    const cfg = abs(envIn.fwEnvConfig);
    let text: string;
    try {
      text = fs.readFileSync(cfg, 'utf8');
    } catch (cause) {
      throw new ConfigError(`${source}: cannot read ${cfg}`, { cause });
    }
    env = { backend: 'uboot', copies: parseFwEnvConfig(text, cfg).map((e) => ({ ...e, device: abs(e.device) })) };
  } else {
    env = { backend: 'uboot', copies: (envIn.copies ?? board.env.copies).map((e) => ({ ...e, device: abs(e.device) })) };
  }

  const bootedSlot =
    'file' in c.bootedSlot
      ? { file: abs(c.bootedSlot.file) }
      : { cmdline: c.bootedSlot.cmdline, param: c.bootedSlot.param ?? board.bootedSlotParam };

  return {
    file: file ? path.resolve(file) : undefined,
    deviceId: c.deviceId,
    group: c.group,
    board,
    dataDir: abs(c.dataDir),
    trustedKeys: c.trustedKeys.map(abs),
    revokedKeys: c.revokedKeys,
    slots,
    env,
    slotVariable: board.bootloader.slotVariable,
    bootlimit: board.bootloader.bootlimit,
    bootedSlot,
    rebootCommand: c.rebootCommand ?? board.rebootCommand,
    broker: c.broker,
    worker: c.worker ? { ...c.worker, cwd: c.worker.cwd ? abs(c.worker.cwd) : undefined, configFile: c.worker.configFile ? abs(c.worker.configFile) : undefined } : undefined,
    syncEveryChunks: c.syncEveryChunks,
    bufferSize: c.bufferSize ?? board.io.bufferSize,
    watchdog: resolveWatchdog(c.watchdog, board),
  };
}

function resolveWatchdog(w: boolean | { device: string; intervalSeconds: number }, board: BoardProfile): DeviceConfig['watchdog'] {
  if (w === false) return undefined;
  if (w !== true) return { device: w.device, intervalMs: Math.round(w.intervalSeconds * 1000) };
  if (!board.watchdog) throw new ConfigError(`watchdog: true, but board ${board.name} names no watchdog device; give { "device", "intervalSeconds" }`);
  return { device: board.watchdog.device, intervalMs: Math.max(500, Math.round((board.watchdog.timeoutSeconds * 1000) / 3)) };
}

export function loadDeviceConfig(file: string): DeviceConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read device config ${file}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`device config ${file} is not valid JSON`, { cause });
  }
  return resolveDeviceConfig(json, file);
}
