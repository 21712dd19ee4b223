import { Type, type Static } from '@sinclair/typebox';
import { Size } from '../../config/types.js';
import { BodyOp } from './body-ops.js';

const Token = Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' });
/** A query parameter name: any text but an empty one (encoded when sent); a line break is surely a mistake. */
const QueryName = Type.String({ pattern: '^.+$' });

const HeaderOps = Type.Object(
  {
    remove: Type.Array(Token, { default: [], description: 'Headers to remove.' }),
    rename: Type.Record(Token, Token, { additionalProperties: false, default: {}, description: 'Headers to rename (`old: new`), values kept.' }),
    set: Type.Record(Token, Type.String(), { additionalProperties: false, default: {}, description: 'Headers to replace or create; values are templates.' }),
    add: Type.Record(Token, Type.String(), { additionalProperties: false, default: {}, description: 'Headers to append; values are templates.' }),
  },
  { additionalProperties: false, default: {}, description: 'Header operations, applied in the order remove, rename, set, add.' },
);

const QueryOps = Type.Object(
  {
    remove: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Query parameters to remove.' }),
    rename: Type.Record(QueryName, Type.String({ minLength: 1 }), { additionalProperties: false, default: {}, description: 'Parameters to rename (`old: new`).' }),
    set: Type.Record(QueryName, Type.String(), { additionalProperties: false, default: {}, description: 'Parameters to replace or create; values are templates.' }),
    add: Type.Record(QueryName, Type.String(), { additionalProperties: false, default: {}, description: 'Parameters to append; values are templates.' }),
  },
  { additionalProperties: false, default: {}, description: 'Query operations on the forwarded request, in the order remove, rename, set, add.' },
);

const maxBodySize = (what: string) =>
  Size({ default: '1mb', description: `Largest ${what} body buffered for body operations; larger → ${what === 'request' ? '413' : '502'}.` });

export const schema = Type.Object(
  {
    request: Type.Object(
      {
        headers: HeaderOps,
        query: QueryOps,
        body: Type.Array(BodyOp, { default: [], description: 'JSON body operations, in order (JSON requests only; others pass untouched).' }),
        maxBodySize: maxBodySize('request'),
      },
      { additionalProperties: false, default: {}, description: 'Changes to the request sent upstream.' },
    ),
    response: Type.Object(
      {
        headers: HeaderOps,
        body: Type.Array(BodyOp, { default: [], description: 'JSON body operations, in order (2xx JSON responses only).' }),
        maxBodySize: maxBodySize('response'),
      },
      { additionalProperties: false, default: {}, description: 'Changes to the response sent to the client.' },
    ),
  },
  { additionalProperties: false },
);

export type TransformConfig = Static<typeof schema>;
export type HeaderOpsConfig = Static<typeof HeaderOps>;
export type QueryOpsConfig = Static<typeof QueryOps>;
