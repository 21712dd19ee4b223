// Regenerates docs/config-schema.md from the built schemas (`npm run docs:schema`).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../dist/config/reference.js';
import { GatewayConfigSchema } from '../dist/config/schema.js';
import { BUILTIN_POLICIES } from '../dist/policies/index.js';

const out = fileURLToPath(new URL('../docs/config-schema.md', import.meta.url));
writeFileSync(out, renderConfigReference(GatewayConfigSchema, BUILTIN_POLICIES));
console.log(`wrote ${out}`);
