/**
 * The data directory's checks, before LMDB sees it: created 0700, a readable and writable
 * directory, and a data file LMDB would accept (lmdb-js 3.5 crashes the process when
 * mdb_env_open fails, so what it would refuse is refused here first, with a typed error).
 */
import fs from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors.js';

export const RESTORE_FIX = 'it is corrupted or not a task store: move it aside to start empty, or restore it from a backup';

export function openError(dir: string, problem: string, fix: string, cause?: unknown): StoreError {
  return new StoreError(`Cannot open the task store at ${dir}: ${problem}; ${fix}`, cause === undefined ? undefined : { cause });
}

export function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir spins forever where a filesystem answers
 * ENOENT under an existing parent (procfs). Returns whether the last level was created.
 */
function mkdirEach(dir: string): boolean {
  const parent = path.dirname(dir);
  if (parent !== dir && !fs.existsSync(parent)) mkdirEach(parent);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(dir).isDirectory()) return false;
    throw error;
  }
}

/** Creates the directory (0700 whatever the umask), checks it is a writable directory, returns its real path. */
export function prepareDirectory(dir: string): string {
  try {
    if (mkdirEach(dir)) fs.chmodSync(dir, 0o700);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const problem = code === 'EEXIST' || code === 'ENOTDIR' ? 'the path (or a parent) is a file, not a directory' : `it cannot be created (${describe(cause)})`;
    throw openError(dir, problem, 'set options.dir to a directory this process may create and write', cause);
  }
  try {
    if (!fs.statSync(dir).isDirectory()) throw new Error('not a directory');
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
    for (const file of ['data.mdb', 'lock.mdb'].map((name) => path.join(dir, name))) {
      if (fs.existsSync(file)) fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
    }
    return fs.realpathSync(dir);
  } catch (cause) {
    throw openError(dir, `it is not a readable and writable directory (${describe(cause)})`, 'fix its permissions (chmod 700, owned by this user) or choose another directory', cause);
  }
}

/** Checks what mdb_env_open checks of data.mdb: meta page 0 (P_META flag, magic, version) and room for the meta pages. */
export function checkDataFile(dir: string): void {
  const header = Buffer.alloc(64);
  let size = 0;
  try {
    const fd = fs.openSync(path.join(dir, 'data.mdb'), 'r');
    try {
      size = fs.fstatSync(fd).size;
      fs.readSync(fd, header, 0, header.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return; // a new store
    throw openError(dir, `data.mdb cannot be read (${describe(cause)})`, RESTORE_FIX, cause);
  }
  if (size === 0) return; // LMDB initialises an empty file
  // lmdb-js's LMDB fork has a 24-byte page header: flags at 18, then MDB_meta (magic, version, ..., page size at +24).
  const pageSize = header.readUInt32LE(48);
  const valid =
    (header.readUInt16LE(18) & 0x08) !== 0 &&
    header.readUInt32LE(24) === 0xbeefc0de &&
    (header.readUInt32LE(28) & 0xffff) === 2 &&
    pageSize >= 512 && pageSize <= 65536 && (pageSize & (pageSize - 1)) === 0 &&
    size >= 2 * pageSize;
  if (!valid) throw openError(dir, 'data.mdb is not an LMDB data file', RESTORE_FIX);
}
