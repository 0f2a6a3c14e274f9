/**
 * Video: ffmpeg decoding and encoding, segments for dense labels, DenseDPO pairs.
 * @module
 */
export { resolveFfmpeg, resolveFfprobe, spawnMedia, runMedia, type MediaTool, type BinarySource, type ResolvedBinary, type ResolveBinaryOptions, type MediaRunOptions, type MediaProcess } from './ffmpeg.js';
export { probeVideo, type VideoInfo, type ProbeOptions } from './probe.js';
export { readFrames, readVideo, frameToTensor, type RawFrame, type FrameFit, type ReadFramesOptions } from './frames.js';
export { writeVideo, frameStrip, type VideoCodec, type FrameSource, type WriteVideoOptions, type FrameStripOptions } from './write.js';
export { segmentRanges, type SegmentRange, type SegmentSpec } from './segments.js';
export { makeDensePairs, labelSegmentsWith, type DensePairOptions, type DensePairs, type LabelSegmentsWithOptions, type SegmentLabels } from './dense-pairs.js';
