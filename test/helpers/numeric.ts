/**
 * Numeric comparison helpers shared by the tests.
 */

/**
 * Relative L2 error ‖a − b‖ / ‖b‖ (b is the reference); 0 when both are all zeros.
 * @throws when the lengths differ, so a shape mix-up cannot pass as a small error.
 */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}
