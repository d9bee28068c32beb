/**
 * The file system calls of the local byte sources and file access (bytes.ts, access.ts), made
 * synchronously while storage answers fast (issue 11).
 *
 * Opening the 163 shards of DeepSeek-V3 makes about 800 calls: an open, an fstat, two reads and a
 * close per shard. Through libuv's thread pool each one is a round trip between threads, and on
 * files the page cache holds (a model opened again, or just downloaded) the round trip costs more
 * than the call: made synchronously, the CLI's text command on that layout took 0.94x the time.
 * On storage that is slow to answer (a disk seeking, a network file system) the pool is what lets
 * several shards be in flight at once. So calls are synchronous until a few have been slow, and
 * go through the pool from then on, for the rest of the process. (One slow call is not enough: on
 * a busy machine a thread is sometimes descheduled in the middle of a call, and a cached fstat
 * then takes 8 ms.)
 *
 * The readers run in the CLI and in the extension's parser workers: a synchronous call blocks a
 * thread that has nothing else to do meanwhile (a parser worker is cancelled by terminating it).
 * Only when no worker can start do they run on the extension host's thread, where the parse
 * itself holds it far longer than the calls.
 */
import * as fs from 'fs';
import { promisify } from 'util';

// Node's callback functions as promises. Not fs.promises: its FileHandle machinery is a tree of
// internal modules that Node loads on first use, ~3 ms of a CLI run.
const fsOpen = promisify(fs.open);
const fsFstat = promisify(fs.fstat);
const fsRead = promisify(fs.read);
const fsClose = promisify(fs.close);
const fsStat = promisify(fs.stat);
const fsReaddir = promisify(fs.readdir);

/**
 * A call slower than SLOW_CALL_MS, plus the time to move its bytes at SLOW_BYTES_PER_MS, says
 * storage is not answering from memory. Calls on cached files take microseconds (a 128 KB header
 * read ~30-60 µs) and a cold read from an SSD a fraction of a millisecond; a disk's seek or a
 * network round trip takes longer. Reads are allowed time for their size: an 8.9 MB shard index
 * read from the page cache took 25 ms here, copying into pages the read faults in.
 */
const SLOW_CALL_MS = 0.5;
const SLOW_BYTES_PER_MS = 100_000;
/** Slow calls after which calls go through the thread pool. */
const SLOW_CALLS = 3;

/** Whether calls have been fast so far: the calls are timed until SLOW_CALLS of them were slow. */
export class CallPace {
  private slowCalls = 0;
  private pooled = false;
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `sync()`'s result, timed, until SLOW_CALLS calls have been slow; then `async()`'s. `bytes`: what the call moves. */
  call<T>(sync: () => T, async: () => Promise<T>, bytes = 0): Promise<T> {
    if (this.pooled) return async();
    const start = this.now();
    try {
      return Promise.resolve(sync());
    } catch (e) {
      return Promise.reject(e);
    } finally {
      if (this.now() - start > SLOW_CALL_MS + bytes / SLOW_BYTES_PER_MS && ++this.slowCalls >= SLOW_CALLS) this.pooled = true;
    }
  }

  /** Whether calls go through the thread pool; set, it starts counting slow calls again. */
  async(value?: boolean): boolean {
    if (value !== undefined) {
      this.pooled = value;
      this.slowCalls = 0;
    }
    return this.pooled;
  }
}

/** The process's pace, for every local file call. */
export const filePace = new CallPace();

const fileCall = <T>(sync: () => T, async: () => Promise<T>, bytes?: number): Promise<T> => filePace.call(sync, async, bytes);

/**
 * Read-only, and without waiting for a writer: opening a FIFO otherwise blocks until something
 * writes to it (the caller then finds it is not a regular file). O_NONBLOCK does nothing to
 * regular files; Windows has no such flag, nor FIFOs that block an open.
 */
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

export const openRead = (path: string): Promise<number> => fileCall(() => fs.openSync(path, READ_FLAGS), () => fsOpen(path, READ_FLAGS));
export const fstat = (fd: number): Promise<fs.Stats> => fileCall(() => fs.fstatSync(fd), () => fsFstat(fd));
export const stat = (path: string): Promise<fs.Stats> => fileCall(() => fs.statSync(path), () => fsStat(path));
export const readdir = (path: string): Promise<string[]> => fileCall(() => fs.readdirSync(path), () => fsReaddir(path));
export const close = (fd: number): Promise<void> => fileCall(() => fs.closeSync(fd), () => fsClose(fd));

/** Reads up to `length` bytes at `position` into `into` at `at`: the number read. */
export const readAt = (fd: number, into: Uint8Array, at: number, length: number, position: number): Promise<number> =>
  fileCall(
    () => fs.readSync(fd, into, at, length, position),
    async () => (await fsRead(fd, into, at, length, position)).bytesRead,
    length,
  );
