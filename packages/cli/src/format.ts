/** Tables for people; `--json` output bypasses this file. */
import Table from 'cli-table3';
import type { IpcxObject } from './objects.js';

/** A borderless table, columns padded, headers first. */
export function formatTable(head: string[], rows: (string | number)[][]): string {
  const table = new Table({
    head,
    style: { head: [], border: [], compact: true },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  });
  for (const row of rows) table.push(row.map(String));
  return table.toString();
}

function size(n: number | undefined): string {
  if (n === undefined) return '';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function fill(object: IpcxObject): string {
  if (!object.fill) return object.detail?.revision !== undefined ? `rev ${object.detail.revision}` : '';
  return `${object.fill.used}/${object.fill.capacity} ${object.fill.unit === 'messages' ? 'msgs' : 'B'}`;
}

/** The `ipcx ls` table. */
export function formatObjects(objects: readonly IpcxObject[]): string {
  return formatTable(
    ['kind', 'name', 'size', 'uid', 'mode', 'owner', 'pid', 'fill', 'what'],
    objects.map((o) => [
      o.kind,
      o.name,
      size(o.size),
      o.uid ?? '',
      o.mode === undefined ? '' : `0${o.mode.toString(8)}`,
      o.exists ? o.owner : `${o.owner} (object gone)`,
      o.pid !== undefined && o.pid > 0 ? o.pid : '',
      fill(o),
      String(o.detail?.object ?? ''),
    ]),
  );
}

/** The `ipcx inspect` rows: every field and every header counter. */
export function objectDetail(object: IpcxObject): (string | number)[][] {
  const rows: (string | number)[][] = [
    ['kind', object.kind],
    ['name', object.name],
    ['exists', String(object.exists)],
    ['owner', object.owner],
  ];
  if (object.pid !== undefined && object.pid > 0) rows.push(['owner pid (label)', object.pid]);
  if (object.title) rows.push(['owner title', object.title]);
  if (object.size !== undefined) rows.push(['size', size(object.size)]);
  if (object.uid !== undefined) rows.push(['uid', object.uid]);
  if (object.mode !== undefined) rows.push(['mode', `0${object.mode.toString(8)}`]);
  if (object.fill) rows.push(['fill', `${object.fill.used} of ${object.fill.capacity} ${object.fill.unit}`]);
  for (const [key, value] of Object.entries(object.detail ?? {})) rows.push([key, String(value)]);
  for (const record of object.records) rows.push(['owner record', record]);
  return rows;
}
