// Before the addon's first futex wait in this process (each test file runs in a process of its own): every
// waitAsync of this file, and of the fixture processes it starts, runs on a waiter thread.
process.env.IPCX_FUTEX_WAITER = 'thread';

const { futexSuite } = await import('./futex-suite.js');
futexSuite('thread');

export {};
