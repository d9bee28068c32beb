/** What `weightscope --version` prints (a build may define `__VERSION__`). */
declare const __VERSION__: string | undefined;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.1.0';
