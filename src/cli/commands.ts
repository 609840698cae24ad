// The command table of `slotflip`. Each entry loads its module only when used, so device
// builds do not pay for host-only commands (serial flashing, the embedded broker, QEMU).

export interface CliIo {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  summary: string;
  /** Returns the process exit code. */
  run(argv: string[], io: CliIo): Promise<number>;
}

type Loader = () => Promise<{ command: Command }>;

export const COMMANDS: Record<string, Loader> = {
  keygen: () => import('./commands/keygen.js'),
  bundle: () => import('./commands/bundle.js'),
  env: () => import('./commands/env.js'),
  install: () => import('./commands/install.js'),
  status: () => import('./commands/status.js'),
  'mark-good': () => import('./commands/mark-good.js'),
  rollback: () => import('./commands/rollback.js'),
  publish: () => import('./commands/publish.js'),
  agent: () => import('./commands/agent.js'),
  'sim-device': () => import('./commands/sim-device.js'),
  demo: () => import('./commands/demo.js'),
  flash: () => import('./commands/flash.js'),
  image: () => import('./commands/image.js'),
  service: () => import('./commands/service.js'),
};

/** One line per command for `slotflip --help` (kept here so help loads no command module). */
export const SUMMARIES: Record<string, string> = {
  keygen: 'make an Ed25519 signing key pair',
  bundle: 'create, inspect or verify a signed update bundle',
  env: 'print, set or initialise the bootloader environment (like fw_printenv/fw_setenv)',
  install: 'install a bundle into the inactive slot and arm the trial boot (on a device)',
  status: 'show a device (--config) or every device (--broker)',
  'mark-good': 'commit the running slot after a trial boot',
  rollback: 'roll back to the previous slot (--local, or a signed command over --broker)',
  publish: 'serve a bundle to devices over MQTT and follow them to commit or rollback',
  agent: 'run the device agent',
  'sim-device': 'run a simulated device (bootloader simulator + agent), for tests and demos',
  demo: 'the whole update loop on this machine: three simulated devices, three releases',
  flash: 'write a base image to a file or block device, or over a U-Boot serial console',
  image: 'build QEMU board images and update slots from Debian packages',
  service: 'install or remove the agent as a systemd, sysv or procd service',
};
