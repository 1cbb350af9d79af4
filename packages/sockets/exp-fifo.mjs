import { Fifo } from '@ipcx/sockets';
const path = `/tmp/ipcx-exp-${process.pid}.fifo`;
const fifo = await Fifo.create(path);
const which = process.argv[2];
try {
  if (which === 'reader') {
    const r = await Fifo.openReader(path);
    try { await r.receive({ timeout: 200 }); console.log('got'); } catch (e) { console.log('rejected', e.code); }
    await r.close();
  } else {
    try { await Fifo.openWriter(path, { timeout: 200 }); console.log('opened'); } catch (e) { console.log('rejected', e.code); }
  }
} finally { await fifo.close(); }
