import type { PolicyDefinition } from '../../pipeline/policy.js';
import apiKey from '../api-key/policy.js';
import auth from './policy.js';
import jwt from '../jwt/policy.js';
import mtls from '../mtls/policy.js';
import basicAuth from '../basic-auth/policy.js';
import introspection from '../oauth2-introspection/policy.js';
import rbac from '../rbac/policy.js';
import abac from '../abac/policy.js';
import opa from '../opa/policy.js';
import internalToken from '../internal-token/policy.js';

/** The authentication and authorization policies (docs/auth.md), in one list for policies/index.ts. */
export const AUTH_POLICIES: readonly PolicyDefinition[] = [apiKey, auth, jwt, mtls, basicAuth, introspection, rbac, abac, opa, internalToken] as PolicyDefinition[];
