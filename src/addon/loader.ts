/**
 * Loads the native addon: the local build (build/Release, found with `bindings`) when there is
 * one, else the prebuilt binary in prebuilds/<platform>-<arch>/. LMREC_NATIVE=prebuild or
 * LMREC_NATIVE=build forces one of them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bindings from 'bindings';
import { LmrecError } from '../errors.js';
import type { NativeLexicalIndexConstructor } from './lexical-index.js';
import type { NativeLmTrainerConstructor } from './lm-trainer.js';
import type { NativeSegmentCacheConstructor } from './segment-cache.js';
import type { NativeSrmConstructor } from './srm.js';
import type { NativeIndexConstructor } from './vector-index.js';

export interface NativeAddon {
  NativeSrm: NativeSrmConstructor;
  NativeLmTrainer: NativeLmTrainerConstructor;
  NativeSegmentCache: NativeSegmentCacheConstructor;
  NativeLexicalIndex: NativeLexicalIndexConstructor;
  sourceHash: string;
  /** Every error code the native core can throw. */
  errorCodes(): string[];
  setErrorClass(cls: typeof LmrecError): void;
  NativeIndex: NativeIndexConstructor;
  kernels(): string[];
  /** C = alpha op(A) op(B) + beta C in place, on the named micro-kernel or the best one (encode pooling, tests). */
  sgemm(
    kernel: string | undefined,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    transA: boolean,
    b: Float32Array,
    transB: boolean,
    beta: number,
    c: Float32Array,
    threads: number,
  ): void;
  /** Dot products of q with every dim-float row of x, on the named kernel (tests). */
  dotRows(kernel: string | undefined, x: Float32Array, dim: number, q: Float32Array): Float32Array;
  /** exp(x - shift) elementwise and its sum, on the named kernel (tests). */
  expShifted(kernel: string | undefined, x: Float32Array, shift: number): { values: Float32Array; sum: number };
  hardwareThreads(): number;
  probeInt8Peak(seconds: number, kernel?: string): Promise<number>;
  probeReadBandwidth(bytes: number, threads: number, repeats: number): Promise<number>;
  /** Gives free heap memory back to the operating system (glibc malloc_trim), off the JS thread; false where none was released or the C library cannot. */
  releaseMemory(): Promise<boolean>;
  /** Caps glibc's heap arenas (mallopt M_ARENA_MAX) for arenas made from now on; false where the C library has no such setting. */
  limitHeapArenas(count: number): boolean;
  /** The C heap's bytes in use and held from the OS (glibc mallinfo2; -1 where the C library cannot tell). */
  heapStats(): { inUse: number; held: number };
}

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const prebuildPath = path.join(
  packageRoot,
  'prebuilds',
  `${process.platform}-${process.arch}`,
  'lmrec.node',
);

const require = createRequire(import.meta.url);

/** Loads an addon file directly (tests use it to check the committed prebuild). */
export function loadAddonFile(file: string): NativeAddon {
  const addon = require(file) as NativeAddon;
  addon.setErrorClass(LmrecError);
  return addon;
}

function loadAddon(): { addon: NativeAddon; from: string } {
  const force = process.env.LMREC_NATIVE;
  const errors: string[] = [];
  if (force !== 'prebuild') {
    try {
      const addon = bindings({ bindings: 'lmrec.node', module_root: packageRoot }) as NativeAddon;
      addon.setErrorClass(LmrecError);
      return { addon, from: 'build' };
    } catch (e) {
      errors.push(`local build: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (force !== 'build' && existsSync(prebuildPath)) {
    try {
      return { addon: loadAddonFile(prebuildPath), from: prebuildPath };
    } catch (e) {
      errors.push(`prebuild: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new LmrecError(
    `lmrec's native addon could not be loaded (${errors.join('; ') || 'no prebuild for ' +
      `${process.platform}-${process.arch}`}). Run \`npm run build:native\` (needs cmake and a C++17 compiler).`,
    'NATIVE_UNAVAILABLE',
  );
}

const loaded = loadAddon();
export const native: NativeAddon = loaded.addon;
/** Where the addon came from: 'build' or the prebuild's path. */
export const nativeSource: string = loaded.from;
