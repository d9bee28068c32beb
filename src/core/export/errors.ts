/** An export that cannot be made as asked (too large for a PNG, renderer missing): said plainly. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}
