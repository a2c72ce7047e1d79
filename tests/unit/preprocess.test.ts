import { describe, expect, it } from 'vitest';
import { preprocessWgsl, variantKey } from '../../src/gpu/preprocess';
import { packUniform } from '../../src/kernels/dispatch';
import { compare, expectClose, finiteDifference } from '../util/compare';

describe('preprocessWgsl', () => {
  const src = 'const TILE: u32 = ${TILE}u;\n#if ${VEC4}\nfn load4() {}\n#else\nfn load1() {}\n#endif\n';

  it('substitutes values and resolves #if/#else', () => {
    const a = preprocessWgsl(src, { TILE: 16, VEC4: true });
    expect(a).toContain('const TILE: u32 = 16u;');
    expect(a).toContain('fn load4');
    expect(a).not.toContain('fn load1');
    const b = preprocessWgsl(src, { TILE: 8, VEC4: false });
    expect(b).toContain('fn load1');
    expect(b).not.toContain('fn load4');
    expect(b).not.toContain('#');
  });

  it('names a missing parameter', () => {
    expect(() => preprocessWgsl(src, { TILE: 16 })).toThrow(/needs parameter 'VEC4'/);
  });

  it('keys variants independently of parameter order', () => {
    expect(variantKey('m', { a: 1, b: true })).toBe(variantKey('m', { b: true, a: 1 }));
    expect(variantKey('m', { a: 1 })).not.toBe(variantKey('m', { a: 2 }));
  });
});

describe('packUniform', () => {
  it('packs u32, i32 and f32 little-endian, padded to 16 bytes', () => {
    const buf = packUniform([['u32', 7], ['i32', -3], ['f32', 0.5], ['u32', 1], ['u32', 2]]);
    expect(buf.byteLength).toBe(32);
    const v = new DataView(buf);
    expect(v.getUint32(0, true)).toBe(7);
    expect(v.getInt32(4, true)).toBe(-3);
    expect(v.getFloat32(8, true)).toBe(0.5);
    expect(v.getUint32(16, true)).toBe(2);
  });
  it('rejects a negative or fractional u32', () => {
    expect(() => packUniform([['u32', -1]])).toThrow(/must be a u32/);
    expect(() => packUniform([['u32', 1.5]])).toThrow(/must be a u32/);
  });
});

describe('the comparison helpers can fail', () => {
  it('reports relative error, non-finite values and first mismatches', () => {
    expect(compare([1, 2, 3], [1, 2, 3], 1e-6).relError).toBe(0);
    expect(() => expectClose('x', [1, 2, 3.1], [1, 2, 3], 1e-4)).toThrow(/relative error .* > 0.0001.*\n.*\[2\] got 3.1 want 3/);
    expect(() => expectClose('x', [NaN, 2], [1, 2], 1)).toThrow(/1 non-finite/);
  });
  it('finite differences recover a known derivative', () => {
    const x = new Float64Array([0.3, -1.2]);
    const d = finiteDifference(() => x[0] * x[0] * x[1], x, [0, 1]);
    expect(d.get(0)).toBeCloseTo(2 * 0.3 * -1.2, 8);
    expect(d.get(1)).toBeCloseTo(0.09, 8);
  });
});
