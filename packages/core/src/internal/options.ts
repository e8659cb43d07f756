import { InvalidOptionsError } from '../errors.js'

/** Bounds of {@link checkNumber}. */
export interface NumberBounds {
  /** Smallest allowed value (inclusive). @default -Infinity */
  min?: number
  /** Largest allowed value (inclusive). @default Infinity */
  max?: number
  /** Whether the value must be an integer. @default false */
  integer?: boolean
}

/**
 * Returns `value` when it is a finite number within `bounds`.
 * @throws {InvalidOptionsError} naming the option otherwise.
 */
export function checkNumber(name: string, value: unknown, bounds: NumberBounds = {}): number {
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY, integer = false } = bounds
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    const range = [
      integer ? 'an integer' : 'a number',
      min > Number.NEGATIVE_INFINITY ? `>= ${min}` : '',
      max < Number.POSITIVE_INFINITY ? `<= ${max}` : '',
    ]
      .filter((s) => s !== '')
      .join(' ')
    throw new InvalidOptionsError(`${name} must be ${range}, got ${String(value)}`)
  }
  return value
}

/** Like {@link checkNumber}, but `undefined` gives `fallback`. */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number,
  bounds: NumberBounds = {},
): number {
  return value === undefined ? fallback : checkNumber(name, value, bounds)
}
