import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { childLines, killChild, trackChild, type ChildLines, type ChildOutput } from '@ipcx/core/testing';

/** An answer of the reliability fixture. */
export type Answer = { id: number; ok: boolean; code?: string; [key: string]: unknown };

const FIXTURE = new URL('./fixtures/reliability.mjs', import.meta.url).pathname;

/** A long-lived child running fixtures/reliability.mjs: `ask` sends one command and awaits its answer. */
export class Peer {
  readonly #out: ChildLines;
  #next = 1;

  private constructor(readonly child: ChildProcess) {
    this.#out = childLines(child);
  }

  /** Resolves once the fixture exited. */
  get exited(): Promise<ChildOutput> {
    return this.#out.exited;
  }

  /** Spawns the fixture (optionally wrapped, e.g. in `unshare`) and waits for "ready". */
  static async start(peers: Peer[], wrap: string[] = [], options: SpawnOptions = {}): Promise<Peer> {
    const [command, ...args] = [...wrap, process.execPath, FIXTURE];
    const peer = new Peer(trackChild(spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'], ...options })));
    peers.push(peer);
    await peer.#out.line('"ready"');
    return peer;
  }

  async ask(command: Record<string, unknown>, timeoutMs = 20_000): Promise<Answer> {
    const id = this.#next++;
    this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    const answer = (line: string): boolean => line !== '"ready"' && (JSON.parse(line) as Answer).id === id;
    return JSON.parse(await this.#out.line(answer, timeoutMs)) as Answer;
  }

  async kill(): Promise<void> {
    await killChild(this.child);
  }
}

/** Kills every peer and waits for them. */
export async function killPeers(peers: Peer[]): Promise<void> {
  await Promise.all(peers.splice(0).map((peer) => peer.kill()));
}
