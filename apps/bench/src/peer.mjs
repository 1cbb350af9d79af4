// The other end of a row in a Worker (thread rows) or a forked child (process rows): loads the built
// packages like any user's program and serves the control channel (peer-loop.mjs).
import { isMainThread, workerData } from 'node:worker_threads';
import { peerControl } from './control.mjs';
import { servePeer } from './peer-loop.mjs';

const { transport, kind } = isMainThread ? JSON.parse(process.argv[2]) : workerData;
await servePeer(peerControl(), transport, kind);
process.exit(0);
