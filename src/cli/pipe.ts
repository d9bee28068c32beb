/**
 * The command's standard output. Written straight to file descriptor 1 (issue 11, start-up):
 * constructing process.stdout loads Node's stream modules, and `net` when the output is a pipe,
 * 3-10 ms of a run that takes about 100 ms beyond Node's own start. A write that cannot finish at
 * once (a non-blocking pipe that is full: EAGAIN) or fails otherwise hands the rest, and every
 * later write, to process.stdout, which queues it or reports the error as it always did.
 * On Windows everything goes through process.stdout, which writes a console in its own encoding.
 *
 * A reader that closes the pipe early (`weightscope x --json | head`) made that choice: it is
 * not an error, and the command ends with status 0.
 */
import * as fs from 'fs';

let stream: NodeJS.WriteStream | undefined;

function stdoutStream(): NodeJS.WriteStream {
  if (!stream) {
    stream = process.stdout;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  return stream;
}

/** Write to standard output; resolves once `data` is written or queued (a buffer may be reused then). */
export function writeOut(data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let at = 0;
  if (!stream && process.platform !== 'win32') {
    try {
      // writeSync may write part of the bytes (a pipe): the rest follows.
      while (at < bytes.length) at += fs.writeSync(1, bytes, at);
      return Promise.resolve();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
    }
  }
  const rest = at === 0 ? bytes : bytes.subarray(at);
  return new Promise((resolve) => stdoutStream().write(rest, () => resolve()));
}
