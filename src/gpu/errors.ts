/** Typed failures of the GPU layer; each carries a message a person can act on. */

export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
}

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(
    message: string,
    readonly reason: GPUDeviceLostReason | 'unknown',
  ) {
    super(message);
  }
}

export class GpuValidationError extends Error {
  override name = 'GpuValidationError';
}

export class GpuOutOfMemoryError extends Error {
  override name = 'GpuOutOfMemoryError';
}

/** A request the device's limits cannot satisfy; `field` names what to shrink. */
export class LimitExceededError extends Error {
  override name = 'LimitExceededError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** A kernel called with shapes or buffers it cannot work with. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new ShapeError(typeof message === 'function' ? message() : message);
}
