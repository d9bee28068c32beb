/**
 * A small strict XML 1.0 well-formedness checker for the SVG export tests (no DTDs, no
 * processing instructions other than the XML declaration, no CDATA: the exporter writes none).
 * It returns a minimal element tree so tests can look for elements and attributes.
 */
import * as assert from 'assert';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const VALID_CHARS = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, where: number): string {
  return s.replace(/&([^;&]*);?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) throw new Error(`bare & at ${where}`);
    if (PREDEFINED[body] !== undefined) return PREDEFINED[body];
    const m = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(body);
    if (!m) throw new Error(`unknown entity &${body}; at ${where}`);
    const cp = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
    const ch = String.fromCodePoint(cp);
    if (!VALID_CHARS.test(ch)) throw new Error(`character reference to an invalid character at ${where}`);
    return ch;
  });
}

export function parseXml(src: string): XmlElement {
  if (!VALID_CHARS.test(src)) throw new Error('characters not allowed in XML 1.0');
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipMisc = () => {
    for (;;) {
      const ws = /^[ \t\r\n]*/.exec(src.slice(i))![0];
      i += ws.length;
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i + 4);
        if (end < 0) throw new Error('unterminated comment');
        if (src.slice(i + 4, end).includes('--')) throw new Error('-- inside a comment');
        i = end + 3;
      } else return;
    }
  };
  if (src.startsWith('<?xml', i)) {
    const end = src.indexOf('?>', i);
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  skipMisc();
  if (src[i] !== '<') throw new Error(`expected the root element at ${i}`);
  while (i < src.length) {
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) throw new Error('unterminated comment');
      if (src.slice(i + 4, end).includes('--')) throw new Error('-- inside a comment');
      i = end + 3;
      continue;
    }
    if (src.startsWith('<!', i) || src.startsWith('<?', i)) throw new Error(`unsupported markup at ${i}`);
    if (src.startsWith('</', i)) {
      const m = NAME.exec(src.slice(i + 2));
      if (!m) throw new Error(`bad end tag at ${i}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`end tag </${m[0]}> does not match <${open?.name}> at ${i}`);
      i += 2 + m[0].length;
      const ws = /^[ \t\r\n]*/.exec(src.slice(i))![0];
      i += ws.length;
      if (src[i] !== '>') throw new Error(`bad end tag at ${i}`);
      i++;
      if (!stack.length) {
        skipMisc();
        if (i !== src.length) throw new Error(`content after the root element at ${i}`);
        return root!;
      }
      continue;
    }
    if (src[i] === '<') {
      if (!stack.length && root) throw new Error('two root elements');
      const m = NAME.exec(src.slice(i + 1));
      if (!m) throw new Error(`bad start tag at ${i}`);
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
      i += 1 + m[0].length;
      for (;;) {
        const ws = /^[ \t\r\n]*/.exec(src.slice(i))![0];
        i += ws.length;
        if (src.startsWith('/>', i) || src[i] === '>') break;
        if (!ws.length) throw new Error(`attributes need white space before them at ${i}`);
        const a = NAME.exec(src.slice(i));
        if (!a) throw new Error(`bad attribute name at ${i}`);
        i += a[0].length;
        const eq = /^[ \t\r\n]*=[ \t\r\n]*/.exec(src.slice(i));
        if (!eq) throw new Error(`attribute ${a[0]} without a value at ${i}`);
        i += eq[0].length;
        const q = src[i];
        if (q !== '"' && q !== "'") throw new Error(`unquoted attribute ${a[0]} at ${i}`);
        const end = src.indexOf(q, i + 1);
        if (end < 0) throw new Error('unterminated attribute value');
        const raw = src.slice(i + 1, end);
        if (raw.includes('<')) throw new Error(`< in attribute ${a[0]} at ${i}`);
        if (Object.prototype.hasOwnProperty.call(el.attrs, a[0])) throw new Error(`duplicate attribute ${a[0]} at ${i}`);
        el.attrs[a[0]] = decode(raw, i);
        i = end + 1;
      }
      if (stack.length) stack[stack.length - 1].children.push(el);
      else root = el;
      if (src.startsWith('/>', i)) {
        i += 2;
        if (!stack.length) {
          skipMisc();
          if (i !== src.length) throw new Error(`content after the root element at ${i}`);
          return root!;
        }
      } else {
        i += 1;
        stack.push(el);
      }
      continue;
    }
    // character data
    const next = src.indexOf('<', i);
    const end = next < 0 ? src.length : next;
    const raw = src.slice(i, end);
    if (!stack.length) throw new Error(`text outside the root element at ${i}`);
    if (raw.includes(']]>')) throw new Error(`]]> in text at ${i}`);
    stack[stack.length - 1].text += decode(raw, i);
    i = end;
  }
  throw new Error(`unclosed element <${stack[stack.length - 1]?.name}>`);
}

/** All elements in document order. */
export function allElements(root: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}

/** Text of an element and its descendants. */
export function textOf(e: XmlElement): string {
  return e.text + e.children.map(textOf).join('');
}

describe('export: the test XML checker', () => {
  it('accepts well-formed documents and decodes references', () => {
    const doc = parseXml(`<?xml version="1.0"?>\n<!-- c --><svg a="1" b='x &amp; &#60;'><g><t>a &lt; b &#x263A;</t></g><e/></svg>\n`);
    assert.strictEqual(doc.name, 'svg');
    assert.strictEqual(doc.attrs.b, 'x & <');
    assert.strictEqual(textOf(doc), 'a < b \u263a');
    assert.deepStrictEqual(allElements(doc).map((e) => e.name), ['svg', 'g', 't', 'e']);
  });
  for (const [why, bad] of [
    ['mismatched tags', '<a><b></a></b>'],
    ['unclosed', '<a><b></b>'],
    ['bare ampersand', '<a>x & y</a>'],
    ['unknown entity', '<a>&nbsp;</a>'],
    ['< in an attribute', '<a x="<"/>'],
    ['unquoted attribute', '<a x=1/>'],
    ['duplicate attribute', '<a x="1" x="2"/>'],
    ['two roots', '<a/><b/>'],
    ['control character', '<a>\u0001</a>'],
    ['reference to a control character', '<a>&#1;</a>'],
    ['lone surrogate', '<a>\ud800</a>'],
    ['text after the root', '<a/>x'],
  ]) {
    it(`rejects ${why}`, () => assert.throws(() => parseXml(bad)));
  }
});
