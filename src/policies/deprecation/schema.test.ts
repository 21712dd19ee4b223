import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('deprecation config', () => {
  policyConfigCases('deprecation', [
    { desc: 'since only', config: '{ since: 2025-01-01T00:00:00Z }' },
    { desc: 'every option', config: '{ since: 2025-01-01T00:00:00+02:00, sunset: 2026-06-30T00:00:00Z, link: https://x.example/d, sunsetLink: https://x.example/s, successor: /v2, goneAfterSunset: true }' },
    { desc: 'no since', config: '{ sunset: 2026-06-30T00:00:00Z }', error: /deprecation\.since: is required/ },
    { desc: 'a date without time', config: '{ since: 2025-01-01 }', error: /deprecation\.since: must match/ },
    { desc: 'an unknown key', config: '{ since: 2025-01-01T00:00:00Z, gone: true }', error: /deprecation\.gone: unknown key/ },
  ]);
});
