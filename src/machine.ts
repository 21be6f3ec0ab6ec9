/** This machine's limits, measured, so that speeds can be read as fractions of them. */
import { native } from './addon/loader.js';

export interface MachineLimits {
  /** Kernel the peak was measured with. */
  kernel: string;
  /** int8 multiply-adds per second on one core (a register-only loop). */
  int8MacsPerSecond: number;
  /** Streaming read bandwidth, bytes per second, one thread. */
  readBytesPerSecond: number;
  /** The same with every hardware thread. */
  readBytesPerSecondAllThreads: number;
  /** Hardware threads (the all-threads bandwidth ran on this many). */
  threads: number;
}

/**
 * Measures this machine: the int8 compute peak of one core and the memory read bandwidth, one
 * thread and all.
 * @param options How long and over how much memory to measure.
 * @param options.bufferBytes Bytes the bandwidth probes stream through (default 1 GiB: beyond the caches).
 * @param options.seconds Seconds the int8 peak probe runs (default 0.5).
 */
export async function probeMachine(options: { bufferBytes?: number; seconds?: number } = {}): Promise<MachineLimits> {
  const bytes = options.bufferBytes ?? 1 << 30; // beyond the caches
  const threads = native.hardwareThreads();
  const kernel = native.kernels()[0]!;
  return {
    kernel,
    int8MacsPerSecond: await native.probeInt8Peak(options.seconds ?? 0.5, kernel),
    readBytesPerSecond: await native.probeReadBandwidth(bytes, 1, 3),
    readBytesPerSecondAllThreads: await native.probeReadBandwidth(bytes, threads, 3),
    threads,
  };
}
