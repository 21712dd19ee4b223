import { PolicyRegistry } from '../pipeline/registry.js';
import type { PolicyDefinition } from '../pipeline/policy.js';
import requestId from './request-id/policy.js';
import headers from './headers/policy.js';
import { AUTH_POLICIES } from './auth/index.js';
import cache from './cache/policy.js';
import compress from './compress/policy.js';
import transform from './transform/policy.js';
import deprecation from './deprecation/policy.js';
import etag from './etag/policy.js';
import rateLimit from './rate-limit/policy.js';
import quota from './quota/policy.js';
import concurrency from './concurrency/policy.js';
import ipFilter from './ip-filter/policy.js';
import cors from './cors/policy.js';
import validate from './validate/policy.js';
import mask from './mask/policy.js';
import requestSize from './request-size/policy.js';

/** Every built-in policy. Adding one: a folder with schema + policy + test, and a line here. */
export const BUILTIN_POLICIES: readonly PolicyDefinition[] = [
  requestId,
  headers,
  ...AUTH_POLICIES,
  cache,
  compress,
  transform,
  deprecation,
  etag,
  rateLimit,
  quota,
  concurrency,
  ipFilter,
  cors,
  validate,
  mask,
  requestSize,
] as PolicyDefinition[];

export const builtinPolicies = new PolicyRegistry(BUILTIN_POLICIES);
