/** `weightscope x --json | head` closes the pipe early: that is the reader's choice, not an error. */
export function exitOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
