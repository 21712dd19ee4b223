/**
 * Field paths for `mask` rules, compiled once at config load.
 *
 * A path is a dot-separated list of steps from the top of the JSON document:
 *   - `user.ssn`          a member by name;
 *   - `*`                 every member of an object (or element of an array);
 *   - `items[*]`, `[*]`   every element of an array; `items[0]` one element;
 *   - `["a.b"]`           a member whose name has dots or brackets in it;
 *   - `**`                any depth, zero levels included: `**.password` is every
 *                         `password` member anywhere in the document.
 * A leading `$.` (JSONPath style) is accepted and ignored. Hand-written: the JSONPath
 * libraries evaluate a far larger language (filters, scripts) than masking needs, and
 * this subset walks a document once with no per-request compilation.
 */
export type Step =
  | { kind: 'key'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'any' }
  | { kind: 'anyIndex' }
  | { kind: 'deep' };

export interface FieldPath {
  readonly text: string;
  readonly steps: readonly Step[];
  /** More than one `**`: the same field can be reached twice, so hits are deduplicated. */
  readonly dedupe: boolean;
}

/**
 * Parses a path; throws an Error saying what is wrong (reported as a config error).
 *
 * @example
 *   parsePath('items[*].card').steps // [{ kind: 'key', name: 'items' }, { kind: 'anyIndex' }, { kind: 'key', name: 'card' }]
 */
export function parsePath(text: string): FieldPath {
  let s = text;
  if (s.startsWith('$.')) s = s.slice(2);
  else if (s.startsWith('$[')) s = s.slice(1);
  const steps: Step[] = [];
  let i = 0;
  let needName = s[0] !== '[';
  while (i < s.length) {
    if (s[i] === '[') {
      const close = bracketEnd(s, i);
      steps.push(bracket(s.slice(i + 1, close), text));
      i = close + 1;
      if (i < s.length && s[i] !== '.' && s[i] !== '[') throw new Error(`'${text}': expected '.' or '[' after ']' at character ${i + 1}`);
      if (s[i] === '.') {
        i++;
        needName = true;
        if (i === s.length) throw new Error(`'${text}': ends with '.'`);
      }
      continue;
    }
    if (!needName) throw new Error(`'${text}': unexpected '${s[i]}' at character ${i + 1}`);
    let end = i;
    while (end < s.length && s[end] !== '.' && s[end] !== '[' && s[end] !== ']') end++;
    const name = s.slice(i, end);
    if (name === '') throw new Error(`'${text}': empty step at character ${i + 1}`);
    if (s[end] === ']') throw new Error(`'${text}': unexpected ']' at character ${end + 1}`);
    steps.push(name === '**' ? { kind: 'deep' } : name === '*' ? { kind: 'any' } : { kind: 'key', name });
    i = end;
    needName = false;
    if (s[i] === '.') {
      i++;
      needName = true;
      if (i === s.length) throw new Error(`'${text}': ends with '.'`);
    }
  }
  if (steps.length === 0) throw new Error('a path needs at least one step');
  const last = steps[steps.length - 1]!;
  if (last.kind === 'deep') throw new Error(`'${text}': '**' must be followed by a step (e.g. '**.password')`);
  for (let k = 1; k < steps.length; k++) {
    if (steps[k]!.kind === 'deep' && steps[k - 1]!.kind === 'deep') throw new Error(`'${text}': '**.**' is the same as '**'`);
  }
  return { text, steps, dedupe: steps.filter((x) => x.kind === 'deep').length > 1 };
}

function bracketEnd(s: string, open: number): number {
  const q = s[open + 1];
  if (q === '"' || q === "'") {
    const endQuote = s.indexOf(q, open + 2);
    if (endQuote < 0 || s[endQuote + 1] !== ']') throw new Error(`'${s}': unterminated ${q}…${q}] at character ${open + 1}`);
    return endQuote + 1;
  }
  const close = s.indexOf(']', open);
  if (close < 0) throw new Error(`'${s}': '[' at character ${open + 1} is not closed`);
  return close;
}

function bracket(inner: string, text: string): Step {
  if (inner === '*') return { kind: 'anyIndex' };
  if (/^\d+$/.test(inner)) return { kind: 'index', index: Number(inner) };
  const q = inner[0];
  if ((q === '"' || q === "'") && inner.length >= 2 && inner.endsWith(q)) return { kind: 'key', name: inner.slice(1, -1) };
  throw new Error(`'${text}': [${inner}] is not an index, [*] or a quoted name`);
}

/** What a path selects: the container and the key (member name or array index) of each value. */
export type Hit = (parent: Record<string, unknown> | unknown[], key: string | number) => void;

/**
 * Calls `hit` for every value `path` selects in `doc` (a parsed JSON document). Only
 * values that exist are selected; nothing is created.
 */
export function select(doc: unknown, path: FieldPath, hit: Hit): void {
  if (!path.dedupe) return visit(doc, path.steps, 0, hit);
  const seen = new Map<object, Set<string | number>>();
  visit(doc, path.steps, 0, (parent, key) => {
    let keys = seen.get(parent);
    if (keys === undefined) seen.set(parent, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    hit(parent, key);
  });
}

function visit(node: unknown, steps: readonly Step[], i: number, hit: Hit): void {
  if (typeof node !== 'object' || node === null) return;
  const step = steps[i]!;
  const last = i === steps.length - 1;
  const arr = Array.isArray(node) ? (node as unknown[]) : undefined;
  const obj = node as Record<string, unknown>;
  switch (step.kind) {
    case 'key':
      if (arr === undefined && Object.hasOwn(obj, step.name)) {
        if (last) hit(obj, step.name);
        else visit(obj[step.name], steps, i + 1, hit);
      }
      return;
    case 'index':
      if (arr !== undefined && step.index < arr.length) {
        if (last) hit(arr, step.index);
        else visit(arr[step.index], steps, i + 1, hit);
      }
      return;
    case 'anyIndex':
      if (arr !== undefined) eachChild(arr, undefined, steps, i, last, hit);
      return;
    case 'any':
      eachChild(arr, obj, steps, i, last, hit);
      return;
    case 'deep':
      // Zero levels here, then every level below (the `**` step stays in force).
      visit(node, steps, i + 1, hit);
      if (arr !== undefined) for (const c of arr) visit(c, steps, i, hit);
      else for (const k in obj) visit(obj[k], steps, i, hit);
      return;
  }
}

function eachChild(arr: unknown[] | undefined, obj: Record<string, unknown> | undefined, steps: readonly Step[], i: number, last: boolean, hit: Hit): void {
  if (arr !== undefined) {
    for (let k = 0; k < arr.length; k++) {
      if (last) hit(arr, k);
      else visit(arr[k], steps, i + 1, hit);
    }
    return;
  }
  for (const k of Object.keys(obj!)) {
    if (last) hit(obj!, k);
    else visit(obj![k], steps, i + 1, hit);
  }
}
