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
