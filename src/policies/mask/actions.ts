import { createHash } from 'node:crypto';
import { parsePath, select, type FieldPath } from './path.js';

/** What a rule does to each value its path selects. */
export type MaskAction = 'remove' | 'redact' | 'partial' | 'hash';

export interface MaskRuleConfig {
  path: string;
  action: MaskAction;
  replacement: string;
  keep: number;
  length: number;
  salt: string;
}

/** A rule ready to run: its path parsed, its action a closure over its settings. */
export interface CompiledRule {
  path: FieldPath;
  /** The new value, or REMOVE. */
  apply: (value: unknown) => unknown;
}

/** Marks a value to be removed (arrays are compacted after the rule). */
export const REMOVE: unique symbol = Symbol('remove');

/**
 * Compiles rules; throws (naming the rule index in `index`) when a path does not parse.
 *
 * @example
 *   const rules = compileRules([{ path: 'card', action: 'partial', keep: 4, replacement: '***', length: 16, salt: '' }]);
 *   maskDocument({ card: '4111111111111111' }, rules) // { card: '************1111' }
 */
export function compileRules(rules: readonly MaskRuleConfig[]): CompiledRule[] {
  return rules.map((r, index) => {
    let path: FieldPath;
    try {
      path = parsePath(r.path);
    } catch (e) {
      throw Object.assign(new Error((e as Error).message), { index });
    }
    return { path, apply: actionOf(r) };
  });
}

function actionOf(r: MaskRuleConfig): (value: unknown) => unknown {
  switch (r.action) {
    case 'remove':
      return () => REMOVE;
    case 'redact':
      return () => r.replacement;
    case 'partial':
      return (v) => {
        if (typeof v !== 'string' && typeof v !== 'number') return r.replacement;
        // By code point, so a character outside the BMP is never split in half.
        const chars = Array.from(String(v));
        // A value no longer than what would be kept is hidden entirely: keeping it all would show it.
        const keep = chars.length > r.keep ? r.keep : 0;
        return '*'.repeat(chars.length - keep) + chars.slice(chars.length - keep).join('');
      };
    case 'hash':
      return (v) =>
        createHash('sha256')
          .update(r.salt)
          .update(typeof v === 'string' ? v : JSON.stringify(v))
          .digest('hex')
          .slice(0, r.length);
  }
}

/** Applies every rule, in order, to a parsed JSON document (in place); returns the document. */
export function maskDocument(doc: unknown, rules: readonly CompiledRule[]): unknown {
  for (const rule of rules) {
    let compact: Set<unknown[]> | undefined;
    select(doc, rule.path, (parent, key) => {
      const next = rule.apply((parent as Record<string | number, unknown>)[key]);
      if (next === REMOVE) {
        if (Array.isArray(parent)) {
          parent[key as number] = REMOVE;
          (compact ??= new Set()).add(parent);
        } else delete parent[key as string];
        return;
      }
      // defineProperty, not assignment: a member named "__proto__" (JSON.parse makes it an
      // own property) would otherwise hit the prototype setter and keep its value.
      if (key === '__proto__') Object.defineProperty(parent, key, { value: next, enumerable: true, writable: true, configurable: true });
      else (parent as Record<string | number, unknown>)[key] = next;
    });
    if (compact !== undefined) {
      for (const arr of compact) {
        let w = 0;
        for (let r = 0; r < arr.length; r++) if (arr[r] !== REMOVE) arr[w++] = arr[r];
        arr.length = w;
      }
    }
  }
  return doc;
}
