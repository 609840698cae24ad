// `slotflip service install|uninstall --init systemd|sysv|procd`: writes (or removes) the
// init files that start `slotflip agent --config PATH` at boot and restart it when it dies.
// --root writes under a prefix (image builders, tests); --dry-run prints instead.

import type { Command, CliIo } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { DEFAULT_DEVICE_CONFIG } from '../device-options.js';
import { UsageError } from '../../errors.js';
import { realFs } from '../../platform/fs.js';
import { INIT_SYSTEMS, type InitSystem } from '../../service/spec.js';
import { applyPlan, planService, removeService, type ServicePlan } from '../../service/install.js';
import { defaultBin, defaultNode } from '../../service/defaults.js';

const options = {
  init: { type: 'string', arg: 'systemd|sysv|procd', help: 'the init system of the device' },
  config: { type: 'string', short: 'c', arg: 'PATH', help: `device config the agent gets (default ${DEFAULT_DEVICE_CONFIG})` },
  root: { type: 'string', arg: 'DIR', help: 'install under this prefix instead of / (image builders)' },
  bin: { type: 'string', arg: 'PATH', help: 'slotflip entry script (default: the running one, else /usr/lib/slotflip/slotflip.mjs)' },
  node: { type: 'string', arg: 'PATH', help: 'node executable (default: `command -v node`)' },
  inittab: { type: 'boolean', help: 'sysv: a BusyBox /etc/inittab respawn line instead of an init.d script' },
  'dry-run': { type: 'boolean', help: 'print what would be written, change nothing' },
} as const;
const USAGE = 'slotflip service install|uninstall --init systemd|sysv|procd [--config PATH] [--root DIR] [--bin PATH] [--node PATH] [--inittab] [--dry-run]';

function initOf(value: string | undefined): InitSystem {
  const v = required(value, '--init systemd|sysv|procd');
  if (!(INIT_SYSTEMS as readonly string[]).includes(v)) throw new UsageError(`--init must be one of ${INIT_SYSTEMS.join(', ')} (got "${v}")`);
  return v as InitSystem;
}

function printPlan(plan: ServicePlan, root: string, io: CliIo): void {
  const at = (p: string): string => (root === '/' ? p : `${root.replace(/\/$/, '')}${p}`);
  for (const f of plan.files) io.out.write(`--- ${at(f.path)} (mode ${f.mode.toString(8)})\n${f.content}`);
  for (const l of plan.links) io.out.write(`--- ${at(l.path)} -> ${l.target}\n`);
  if (plan.inittab) io.out.write(`--- ${at('/etc/inittab')} (these lines added)\n${plan.inittab.join('\n')}\n`);
}

export const command: Command = {
  summary: 'install or remove the init files that run the agent (systemd, sysv/BusyBox, procd)',
  async run(argv, io) {
    const args = parse(argv, options);
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const [verb, ...extra] = args.positionals;
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const init = initOf(args.values.init);
    const root = args.values.root ?? '/';
    if (verb === 'install') {
      const plan = planService({
        init,
        inittab: args.values.inittab,
        launch: {
          config: args.values.config ?? DEFAULT_DEVICE_CONFIG,
          bin: args.values.bin ?? defaultBin(process.argv[1]),
          node: args.values.node ?? defaultNode(io.env['PATH'], process.execPath),
        },
      });
      if (args.values['dry-run']) return printPlan(plan, root, io), 0;
      const change = await applyPlan(realFs, root, plan);
      for (const f of change.written) io.out.write(`wrote ${f}\n`);
      if (root === '/') io.out.write(`next:\n${plan.next.map((l) => `  ${l}\n`).join('')}`);
      return 0;
    }
    if (verb === 'uninstall') {
      if (args.values['dry-run']) throw new UsageError('--dry-run is for install');
      const change = await removeService(realFs, root, init);
      if (!change.removed.length) io.out.write(`nothing of slotflip's ${init} service was installed\n`);
      for (const f of change.removed) io.out.write(`removed ${f}\n`);
      return 0;
    }
    throw new UsageError(`expected install or uninstall (got "${verb ?? ''}")\n${USAGE}`);
  },
};
