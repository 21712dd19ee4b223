import { Type, type Static } from '@sinclair/typebox';
import { Cidr } from '../../config/types.js';

/**
 * `ip-filter` config: allow and deny lists of addresses and CIDR blocks, IPv4 and IPv6.
 *
 * @example
 *   - ip-filter: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.6.6.6] }
 */
export const schema = Type.Object(
  {
    allow: Type.Array(Cidr(), {
      default: [],
      description: 'Addresses and CIDR blocks that may pass; when the list is not empty, every other address is refused.',
    }),
    deny: Type.Array(Cidr(), {
      default: [],
      description: 'Addresses and CIDR blocks that are refused, even when `allow` also lists them (deny wins).',
    }),
    status: Type.Integer({
      minimum: 400,
      maximum: 599,
      default: 403,
      description: 'Status of the refusal (problem+json, code GW_ERR_IP_FORBIDDEN); e.g. 404 to not reveal the route.',
    }),
  },
  { additionalProperties: false },
);

export type IpFilterConfig = Static<typeof schema>;
