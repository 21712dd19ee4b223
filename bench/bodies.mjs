// Response bodies of the benchmark upstream: the ~100-byte JSON of the peer harness, and a
// 10 KB JSON document (compressible, like a real API listing) for compression rows.
export const BODY = '{"ok":true,"service":"bench-upstream","message":"hello from the loopback upstream","items":[1,2,3,4,5]}';

const items = [];
for (let i = 0; items.length === 0 || JSON.stringify({ items }).length < 10_200; i++) {
  items.push({ id: i, sku: `SKU-${String(i).padStart(6, '0')}`, name: `Product ${i}`, price: (i * 7.3) % 100, tags: ['bench', 'json'] });
}
export const BODY_10K = JSON.stringify({ service: 'bench-upstream', items });
