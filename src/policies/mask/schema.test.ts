import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('mask config', () => {
  policyConfigCases('mask', [
    { desc: 'every action and option', config: '{ rules: [ { path: user.ssn }, { path: "items[*].card", action: partial, keep: 4 }, { path: "**.password", action: remove }, { path: user.email, action: hash, length: 12, salt: pepper }, { path: a, action: redact, replacement: "[x]" } ], maxBodySize: 256kb }' },
    { desc: 'no rules', config: '{ rules: [] }', error: /mask\.rules: must NOT have fewer than 1 items/ },
    { desc: 'a missing rules list', config: '{}', error: /mask\.rules: is required/ },
    { desc: 'an unknown action', config: '{ rules: [ { path: a, action: scramble } ] }', error: /mask\.rules\[0\]\.action/ },
    { desc: 'an unknown rule key', config: '{ rules: [ { path: a, mode: x } ] }', error: /mask\.rules\[0\]\.mode: unknown key/ },
    { desc: 'a bad path', config: '{ rules: [ { path: a }, { path: "items[x].card" } ] }', error: /^\/tmp\/gateway\.yaml:6 routes\[0\]\.policies\[0\]\.mask\.rules\[1\]\.path: 'items\[x\]\.card': \[x\] is not an index, \[\*\] or a quoted name$/m },
    { desc: 'a lone **', config: '{ rules: [ { path: "**" } ] }', error: /mask\.rules\[0\]\.path: '\*\*': '\*\*' must be followed by a step/ },
    { desc: 'a hash length under 8', config: '{ rules: [ { path: a, action: hash, length: 4 } ] }', error: /mask\.rules\[0\]\.length/ },
    { desc: 'a bad size', config: '{ rules: [ { path: a } ], maxBodySize: lots }', error: /mask\.maxBodySize: must be a size/ },
  ]);
});
