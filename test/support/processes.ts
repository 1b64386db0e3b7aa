/**
 * A server started as a child process for a test: its output is kept for error
 * messages, and it never outlives the test run.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Output kept per process; a noisy server keeps only its latest output. */
const OUTPUT_LIMIT = 256 * 1024;

/** Children still running, killed if the test process exits without closing them. */
const running = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The process id, or 0 once spawning failed. */
  readonly pid: number;
  /** stdout and stderr interleaved, as far as they were read. */
  output(): string;
  isAlive(): boolean;
  /** Why it ended, for messages: `exit code 1`, `signal SIGKILL`, or a spawn error. */
  exitReason(): string;
  /** Sends `signal`, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function spawnServer(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ServerProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);

  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let reason: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      reason ??= `spawn error: ${error.message}`;
      running.delete(child);
      resolve();
    });
    child.once('exit', (code, signal) => {
      reason ??= signal === null ? `exit code ${code}` : `signal ${signal}`;
      running.delete(child);
      resolve();
    });
  });

  return {
    child,
    pid: child.pid ?? 0,
    output: () => output,
    isAlive: () => reason === null,
    exitReason: () => reason ?? 'still running',
    async stop(signal = 'SIGTERM', graceMs = 3000) {
      if (reason !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
