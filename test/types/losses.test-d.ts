import type * as tf from '@tensorflow/tfjs';
import { describe, expectTypeOf, it } from 'vitest';
import {
  betaFromDiffusersSd15,
  denoisingError,
  diffusionDpoLoss,
  dpoLoss,
  getLoss,
  lossRegistry,
  preferenceLoss,
  resolveLoss,
  segmentErrors,
  type DpoLossType,
  type Link,
  type LossOutput,
  type LossSpec,
  type PairErrorInputs,
} from '../../src/index.js';

describe('losses public types', () => {
  it('every loss returns { loss: Scalar, metrics: Record<string, Scalar> }', () => {
    expectTypeOf(diffusionDpoLoss).returns.toEqualTypeOf<LossOutput>();
    expectTypeOf(dpoLoss).returns.toEqualTypeOf<LossOutput>();
    expectTypeOf(preferenceLoss).returns.toEqualTypeOf<LossOutput>();
    expectTypeOf<LossOutput['loss']>().toEqualTypeOf<tf.Scalar>();
    expectTypeOf<LossOutput['metrics']>().toEqualTypeOf<Record<string, tf.Scalar>>();
  });

  it('error helpers return [B] and [B, F]', () => {
    expectTypeOf(denoisingError).returns.toEqualTypeOf<tf.Tensor1D>();
    expectTypeOf(segmentErrors).returns.toEqualTypeOf<tf.Tensor2D>();
    expectTypeOf(betaFromDiffusersSd15).returns.toEqualTypeOf<number>();
  });

  it('the registry contract', () => {
    expectTypeOf(getLoss).returns.toEqualTypeOf<LossSpec>();
    expectTypeOf<LossSpec['errorKind']>().toEqualTypeOf<'sample' | 'segment'>();
    expectTypeOf<LossSpec['requires']['reference']>().toEqualTypeOf<boolean>();
    expectTypeOf<PairErrorInputs['preference']>().toEqualTypeOf<tf.Tensor1D | undefined>();
    expectTypeOf<keyof typeof lossRegistry>().toEqualTypeOf<'diffusion-dpo' | 'dcpo' | 'smpo' | 'dense-dpo' | 'kto' | 'mapo' | 'sft'>();
    expectTypeOf(resolveLoss).returns.toHaveProperty('spec');
    // the trainer can dispose the uniform inputs and the outputs with tf.dispose
    expectTypeOf<LossOutput>().toExtend<tf.TensorContainer>();
    expectTypeOf<PairErrorInputs>().toExtend<tf.TensorContainer>();
  });

  it('links and loss types are literal unions', () => {
    expectTypeOf<Link>().toEqualTypeOf<'sigmoid' | 'smoothed' | 'robust' | 'hinge' | 'ipo'>();
    expectTypeOf<'sigmoid'>().toExtend<DpoLossType>();
    expectTypeOf<'kto'>().not.toExtend<DpoLossType>();
  });
});
