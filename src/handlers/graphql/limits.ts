import { Kind, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** Bounds on the shape of one operation (see docs/graphql.md "Limits"). */
export interface ShapeLimits {
  maxDepth: number;
  maxFields: number;
  maxAliases: number;
}

/** Which limit an operation passed, and by how much (the count stops at the first excess). */
export interface LimitExcess {
  limit: keyof ShapeLimits;
  max: number;
}

/**
 * Measures an operation against its limits before anything runs: depth of field nesting,
 * field selections and aliases, each fragment counted at every place it is spread (what
 * execution would do). Introspection fields (`__schema`, `__type`, `__typename`) count as
 * one field (and their alias) but not their subtree, which graphql-js bounds with its
 * MaxIntrospectionDepthRule. The walk stops at the first excess, so a document built to
 * expand exponentially (fragments spreading fragments) costs at most `maxFields` steps.
 * Run after validation (no fragment cycles, no unknown fragments).
 *
 * @example
 *   const over = checkShape(op, fragments, { maxDepth: 8, maxFields: 500, maxAliases: 30 });
 *   if (over) reply400(`exceeds ${over.limit} (${over.max})`);
 */
export function checkShape(op: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, limits: ShapeLimits): LimitExcess | undefined {
  let fields = 0;
  let aliases = 0;
  const walk = (set: SelectionSetNode, depth: number): LimitExcess | undefined => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (++fields > limits.maxFields) return { limit: 'maxFields', max: limits.maxFields };
        if (sel.alias !== undefined && ++aliases > limits.maxAliases) return { limit: 'maxAliases', max: limits.maxAliases };
        if (sel.name.value.startsWith('__')) continue;
        if (depth + 1 > limits.maxDepth) return { limit: 'maxDepth', max: limits.maxDepth };
        if (sel.selectionSet === undefined) continue;
        const over = walk(sel.selectionSet, depth + 1);
        if (over) return over;
      } else {
        const next = sel.kind === Kind.INLINE_FRAGMENT ? sel.selectionSet : fragments.get(sel.name.value)?.selectionSet;
        if (next === undefined) continue;
        const over = walk(next, depth);
        if (over) return over;
      }
    }
    return undefined;
  };
  // `{ product { stock { count } } }` has depth 3: every field is one level below its parent.
  return walk(op.selectionSet, 0);
}
