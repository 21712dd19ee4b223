import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('compress config', () => {
  policyConfigCases('compress', [
    { desc: 'defaults', config: '{}' },
    { desc: 'every option', config: '{ encodings: [gzip, br, zstd, deflate], minSize: 256b, contentTypes: [text/*, application/*+json], gzipLevel: 9, brotliQuality: 11, zstdLevel: 19 }' },
    { desc: 'an unknown coding', config: '{ encodings: [lzma] }', error: /compress\.encodings\[0\]/ },
    { desc: 'a repeated coding', config: '{ encodings: [gzip, gzip] }', error: /compress\.encodings/ },
    { desc: 'a gzip level out of range', config: '{ gzipLevel: 10 }', error: /compress\.gzipLevel: must be <= 9/ },
    { desc: 'a malformed content type', config: '{ contentTypes: [json] }', error: /compress\.contentTypes\[0\]/ },
  ]);
});
