import { describe, expect, it } from 'vitest';
import {
  BadMessage,
  durationFromJson,
  durationToJson,
  fieldMaskFromJson,
  fieldMaskToJson,
  structFromJson,
  timestampFromJson,
  timestampToJson,
  valueFromJson,
  valueToJson,
} from './wkt.js';

describe('Timestamp (RFC 3339)', () => {
  it.each([
    ['1970-01-01T00:00:00Z', '0', 0, '1970-01-01T00:00:00Z'],
    ['1972-01-01T10:00:20.021Z', '63108020', 21000000, '1972-01-01T10:00:20.021Z'],
    ['1972-01-01T11:00:20.021+01:00', '63108020', 21000000, '1972-01-01T10:00:20.021Z'],
    ['1972-01-01t05:30:20.021-04:30', '63108020', 21000000, '1972-01-01T10:00:20.021Z'],
    ['2000-02-29T23:59:59.5z', '951868799', 500000000, '2000-02-29T23:59:59.500Z'],
    ['1969-12-31T23:59:59.123456Z', '-1', 123456000, '1969-12-31T23:59:59.123456Z'],
    ['2024-01-01T00:00:00.000000001Z', '1704067200', 1, '2024-01-01T00:00:00.000000001Z'],
    ['0001-01-01T00:00:00Z', '-62135596800', 0, '0001-01-01T00:00:00Z'],
    ['9999-12-31T23:59:59.999999999Z', '253402300799', 999999999, '9999-12-31T23:59:59.999999999Z'],
    ['1600-03-01T00:00:00Z', '-11670912000', 0, '1600-03-01T00:00:00Z'],
  ])('%s ↔ %ss %i ns → %s', (text, seconds, nanos, canonical) => {
    expect(timestampFromJson(text, 'x')).toEqual({ seconds, nanos });
    expect(timestampToJson({ seconds, nanos })).toBe(canonical);
  });

  it.each(['1970-01-01T00:00:00', '1970-1-01T00:00:00Z', '1900-02-29T00:00:00Z', '1970-01-01T24:00:00Z', '1970-01-01T23:59:60Z', '1970-01-32T00:00:00Z', '1970-01-01T00:00:00+24:00', '10000-01-01T00:00:00Z', '9999-12-31T23:59:59-00:01', 'now', ''])(
    'rejects %s',
    (text) => {
      expect(() => timestampFromJson(text, 'req.at')).toThrow(BadMessage);
      expect(() => timestampFromJson(text, 'req.at')).toThrow(/^req\.at: /);
    },
  );

  it('refuses to write a Timestamp outside 0001..9999 or with bad nanos', () => {
    expect(() => timestampToJson({ seconds: '-62135596801', nanos: 0 })).toThrow(/out of range/);
    expect(() => timestampToJson({ seconds: '0', nanos: 1_000_000_000 })).toThrow(/nanos/);
    expect(() => timestampToJson({ seconds: '0', nanos: -1 })).toThrow(/nanos/);
  });
});

describe('Duration', () => {
  it.each([
    ['1.5s', '1', 500000000, '1.500s'],
    ['-1.5s', '-1', -500000000, '-1.500s'],
    ['-0.000000001s', '0', -1, '-0.000000001s'],
    ['0s', '0', 0, '0s'],
    ['0.100200s', '0', 100200000, '0.100200s'],
    ['315576000000s', '315576000000', 0, '315576000000s'],
  ])('%s ↔ %ss %i ns → %s', (text, seconds, nanos, canonical) => {
    expect(durationFromJson(text, 'x')).toEqual({ seconds, nanos });
    expect(durationToJson({ seconds, nanos })).toBe(canonical);
  });

  it.each(['1', '1.5', '1m', '+1s', '1.0000000001s', '315576000001s', '-315576000001s', ' 1s', 1])('rejects %s', (v) => {
    expect(() => durationFromJson(v, 'req.ttl')).toThrow(/^req\.ttl: /);
  });

  it('refuses to write mixed signs', () => {
    expect(() => durationToJson({ seconds: '1', nanos: -1 })).toThrow(/sign/);
  });
});

describe('FieldMask', () => {
  it('camelCase paths ↔ proto names', () => {
    expect(fieldMaskFromJson('user.displayName,role,a.bC.dE', 'm')).toEqual({ paths: ['user.display_name', 'role', 'a.b_c.d_e'] });
    expect(fieldMaskToJson({ paths: ['user.display_name', 'role'] })).toBe('user.displayName,role');
    expect(fieldMaskFromJson('', 'm')).toEqual({ paths: [] });
    expect(fieldMaskToJson({ paths: [] })).toBe('');
  });

  it('rejects paths with no lowerCamelCase form', () => {
    expect(() => fieldMaskFromJson('display_name', 'm')).toThrow(/^m: 'display_name'/);
    expect(() => fieldMaskFromJson('a,,b', 'm')).toThrow(BadMessage);
    expect(() => fieldMaskToJson({ paths: ['foo_1bar'] })).toThrow(/no lowerCamelCase JSON form/);
    expect(() => fieldMaskToJson({ paths: ['fooBar'] })).toThrow(/no lowerCamelCase JSON form/);
  });
});

describe('Struct / Value / ListValue', () => {
  it('any JSON value round-trips', () => {
    const json = { a: [1, 'x', null, true, { b: {} }], c: -0.5 };
    const v = valueFromJson(json, 'v', 0);
    expect(v).toEqual({
      structValue: {
        fields: {
          a: { listValue: { values: [{ numberValue: 1 }, { stringValue: 'x' }, { nullValue: 0 }, { boolValue: true }, { structValue: { fields: { b: { structValue: { fields: {} } } } } }] } },
          c: { numberValue: -0.5 },
        },
      },
    });
    expect(valueToJson(v)).toEqual(json);
  });

  it('limits nesting and rejects values with no JSON form', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 150; i++) deep = [deep];
    expect(() => valueFromJson(deep, 'v', 0)).toThrow(/nested more than 100 levels/);
    expect(() => structFromJson([], 'v', 0)).toThrow(/must be a JSON object/);
    expect(() => valueToJson({ numberValue: 'NaN' })).toThrow(/no JSON form/);
    expect(() => valueToJson({})).toThrow(/no kind/);
  });
});
