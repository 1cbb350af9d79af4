import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** An answer of the reliability fixture. */
export type Answer = { id: number; ok: boolean; code?: string; [key: string]: unknown };

const FIXTURE = new URL('./fixtures/reliability.mjs', import.meta.url).pathname;

/** A long-lived child running fixtures/reliability.mjs: `ask` sends one command and awaits its answer. */
export class Peer {
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  readonly #waiting = new Map<number, (answer: Answer) => void>();
  #next = 1;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = once(child, 'exit');
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === '"ready"') return;
      const answer = JSON.parse(line) as Answer;
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
    });
  }

  /** Spawns the fixture (optionally wrapped, e.g. in `unshare`) and waits for "ready". */
  static async start(peers: Peer[], wrap: string[] = [], options: SpawnOptions = {}): Promise<Peer> {
    const [command, ...args] = [...wrap, process.execPath, FIXTURE];
    const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'], ...options });
    const peer = new Peer(child);
    peers.push(peer);
    await new Promise<void>((resolve, reject) => {
      const onLine = (chunk: Buffer): void => {
        if (chunk.toString().includes('"ready"')) {
          child.stdout!.off('data', onLine);
          resolve();
        }
      };
      child.stdout!.on('data', onLine);
      child.once('exit', (c, s) => reject(new Error(`reliability fixture exited (${c ?? s}) before it was ready`)));
    });
    return peer;
  }

  ask(command: Record<string, unknown>, timeoutMs = 20_000): Promise<Answer> {
    const id = this.#next++;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Kills every peer and waits for them. */
export async function killPeers(peers: Peer[]): Promise<void> {
  await Promise.all(peers.splice(0).map((peer) => peer.kill()));
}
