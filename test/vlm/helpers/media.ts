/** Tiny test media: solid-colour PNG bytes and tensors. */
import sharp from 'sharp';

/** A solid-colour PNG of `w`×`h`. */
export async function solidPng(r: number, g: number, b: number, w = 8, h = 8): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).png().toBuffer());
}
