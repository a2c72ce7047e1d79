import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Values a shader template can be specialised with. */
export type ShaderParams = Record<string, number | boolean | string>;

/**
 * Specialises a WGSL source file. `${NAME}` placeholders are replaced by `params[NAME]`, and
 * `#if ${NAME}` / `#elif` / `#else` / `#endif` are resolved by wgsl-preprocessor, so one `.wgsl`
 * file holds every tile size and feature variant of an op family instead of copies.
 */
export function preprocessWgsl(source: string, params: ShaderParams = {}): string {
  const parts = source.split(/\$\{(\w+)\}/);
  const strings: string[] = [];
  const values: (number | boolean | string)[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) {
      strings.push(parts[i]);
    } else {
      const name = parts[i];
      if (!(name in params)) throw new Error(`shader template needs parameter '${name}', which was not given`);
      values.push(params[name]);
    }
  }
  const raw = Object.assign([...strings], { raw: strings }) as unknown as TemplateStringsArray;
  return wgsl(raw, ...values);
}

/** A stable key for a (source, params) pair, used by the pipeline cache. */
export function variantKey(name: string, params: ShaderParams = {}): string {
  const keys = Object.keys(params).sort();
  return `${name}?${keys.map((k) => `${k}=${String(params[k])}`).join('&')}`;
}
