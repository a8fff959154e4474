// JSON the way Python's json module writes and reads it, so files nnU-Net writes (summary.json,
// postprocessing.json) and ours are interchangeable:
//  - NaN / Infinity / -Infinity are bare tokens (JSON.stringify would write null),
//  - floats use Python's repr (1.0, 1e-05, 1e+16), integers have no decimal point,
//  - json.dump(indent=4, sort_keys=True) layout, as batchgenerators' save_json (used by nnU-Net) calls it,
//  - ensure_ascii: non-ASCII characters are written as \uXXXX escapes.
// JS numbers do not know whether they were floats; wrap a value in `pyFloat(x)` to force float formatting.

export class PyFloat {
  constructor(readonly value: number) {}
}

/** Marks a number to be written as a Python float (1 → 1.0). */
export function pyFloat(x: number): PyFloat {
  return new PyFloat(x);
}

/** Python's float repr: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16, else d.ddde±XX. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const e = x.toExponential(); // shortest digits that round-trip: "-1.2345e-7"
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e);
  if (!m) return String(x);
  const [, sign, d0, rest = '', expStr] = m;
  const exp = Number(expStr);
  const digits = d0 + rest;
  if (exp >= -5 + 1 && exp < 16) {
    // fixed notation
    let s: string;
    if (exp >= 0) {
      if (digits.length <= exp + 1) s = digits + '0'.repeat(exp + 1 - digits.length) + '.0';
      else s = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
    } else s = '0.' + '0'.repeat(-exp - 1) + digits;
    return sign + s;
  }
  const mant = rest ? `${d0}.${rest}` : d0;
  const ae = Math.abs(exp);
  return `${sign}${mant}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
}

function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

function numberRepr(x: number): string {
  if (!Number.isFinite(x)) return pythonFloatRepr(x);
  if (Number.isInteger(x)) return String(x).includes('e') ? BigInt(x).toString() : String(x);
  return pythonFloatRepr(x);
}

export interface PyDumpOptions {
  indent?: number | null;
  sortKeys?: boolean;
}

/** json.dumps(value, indent=4, sort_keys=True) as Python writes it (defaults match nnU-Net's save_json). */
export function pyJsonDumps(value: unknown, opts: PyDumpOptions = {}): string {
  const indent = opts.indent === undefined ? 4 : opts.indent;
  const sortKeys = opts.sortKeys ?? true;
  const rec = (v: unknown, level: number): string => {
    if (v === null || v === undefined) return 'null';
    if (v instanceof PyFloat) return pythonFloatRepr(v.value);
    if (typeof v === 'number') return numberRepr(v);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'string') return pyString(v);
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) v = Array.from(v as unknown as ArrayLike<number>);
    const nl = indent === null ? '' : '\n' + ' '.repeat(indent * (level + 1));
    const nlEnd = indent === null ? '' : '\n' + ' '.repeat(indent * level);
    const itemSep = indent === null ? ', ' : ',';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return '[' + nl + v.map((x) => rec(x, level + 1)).join(itemSep + nl) + nlEnd + ']';
    }
    if (typeof v === 'object') {
      let keys = Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
      if (sortKeys) keys = keys.sort();
      if (keys.length === 0) return '{}';
      return (
        '{' +
        nl +
        keys.map((k) => pyString(k) + ': ' + rec((v as Record<string, unknown>)[k], level + 1)).join(itemSep + nl) +
        nlEnd +
        '}'
      );
    }
    return pyString(String(v));
  };
  return rec(value, 0);
}

const SENTINEL = '\u0000pyjson:';

/** JSON.parse that also accepts Python's NaN, Infinity and -Infinity tokens (outside strings). */
export function pyJsonParse<T = unknown>(text: string): T {
  let out = '';
  let i = 0;
  let last = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    let tok: string | null = null;
    if (c === 'N' && text.startsWith('NaN', i)) tok = 'NaN';
    else if (c === 'I' && text.startsWith('Infinity', i)) tok = 'Infinity';
    else if (c === '-' && text.startsWith('-Infinity', i)) tok = '-Infinity';
    if (tok) {
      out += text.slice(last, i) + JSON.stringify(SENTINEL + tok);
      i += tok.length;
      last = i;
      continue;
    }
    i++;
  }
  out += text.slice(last);
  return JSON.parse(out, (_k, v) => {
    if (typeof v === 'string' && v.startsWith(SENTINEL)) return Number(v.slice(SENTINEL.length));
    return v;
  }) as T;
}
