// The one interface every bootloader-environment backend offers (uboot, file). Callers (slots,
// agent, CLI) see only this; the backend is picked by name in ./index.ts.

/** Variables in stored order (U-Boot and libubootenv store them sorted by name). */
export type EnvVars = Map<string, string>;

export interface BootEnv {
  /** The backend's name in the table: 'uboot' | 'file'. */
  readonly kind: string;
  read(): Promise<EnvVars>;
  /**
   * All changes of one transition in ONE write; null (or '', as in U-Boot) deletes.
   * Returns the new vars. Changes that change nothing write nothing.
   */
  update(changes: Record<string, string | null>): Promise<EnvVars>;
}

/** What a backend adds for image builders and the demo: write a fresh env, every copy valid. */
export interface InitializableBootEnv extends BootEnv {
  init(vars: EnvVars): Promise<void>;
}
