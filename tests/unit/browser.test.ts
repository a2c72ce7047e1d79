import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper
import { chooseAdapter, chromiumArgs } from '../../scripts/browser.mjs';

describe('Chromium flags', () => {
  it('uses SwiftShader only when asked (or when no GPU exists)', () => {
    const soft: string[] = chromiumArgs('swiftshader');
    expect(soft).toContain('--use-webgpu-adapter=swiftshader');
    const real: string[] = chromiumArgs('default');
    expect(real.some((a) => a.includes('swiftshader'))).toBe(false);
    expect(real).toContain('--enable-unsafe-webgpu');
  });
  it('honours and validates SPARK_ADAPTER', () => {
    expect(chooseAdapter('swiftshader')).toBe('swiftshader');
    expect(chooseAdapter('default')).toBe('default');
    expect(() => chooseAdapter('cuda')).toThrow(/must be 'swiftshader' or 'default'/);
  });
});
