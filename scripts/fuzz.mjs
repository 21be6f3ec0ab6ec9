#!/usr/bin/env node
// `npm run fuzz`: fuzzes the file parsers for a bounded time and prints a summary.
//   - native (libFuzzer + ASan + UBSan, needs clang): fuzz/fuzz_index.cpp (VectorIndex::load)
//     and fuzz/fuzz_srm.cpp (srm::Recommender::load), built against the core sources listed
//     in CMakeLists.txt (no N-API) into build/fuzz/;
//   - TypeScript (fast-check): test/fuzz-safetensors.test.ts (the safetensors reader), run
//     longer than in `npm test`.
// One fuzz process at a time, at nice 19. Crashes are saved under build/fuzz/findings/, logs
// under build/fuzz/logs/; inputs that found new coverage under build/fuzz/corpus/ (the
// committed seeds in fuzz/corpus/ are only read).
//
// Options: --seconds N   time per target (default 60)
//          --targets a,b which of index, srm, safetensors (default all)
//          --build       build only
//          --seeds       rebuild the seed generator and rewrite fuzz/corpus/ (then commit it)
//          --restarts N  after a crash, keep fuzzing the target (default 3) to find others
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build', 'fuzz');
const NATIVE = ['index', 'srm'];
const ALL = [...NATIVE, 'safetensors'];

function parseArgs(argv) {
  const o = { seconds: 60, targets: ALL, build: false, seeds: false, restarts: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--seconds') o.seconds = Number(value());
    else if (a === '--targets') o.targets = value().split(',').filter(Boolean);
    else if (a === '--build') o.build = true;
    else if (a === '--seeds') o.seeds = true;
    else if (a === '--restarts') o.restarts = Number(value());
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (!(Number.isInteger(o.seconds) && o.seconds > 0)) usage('--seconds must be a positive integer');
  if (!(Number.isInteger(o.restarts) && o.restarts >= 0)) usage('--restarts must be a non-negative integer');
  for (const t of o.targets) if (!ALL.includes(t)) usage(`unknown target ${t} (targets: ${ALL.join(', ')})`);
  return o;
}

function usage(problem) {
  if (problem) console.error(`fuzz: ${problem}`);
  console.error('usage: node scripts/fuzz.mjs [--seconds N] [--targets index,srm,safetensors] [--build] [--seeds] [--restarts N]');
  process.exit(problem ? 2 : 0);
}

// ---- native build -------------------------------------------------------------------------

function findClang() {
  const cxx = process.env.CXX_FUZZ || 'clang++';
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    console.error(
      `fuzz: the native fuzz targets need clang with libFuzzer ('${cxx}' was not found).\n` +
        '      Install it (Debian/Ubuntu: apt-get install clang) or set CXX_FUZZ to a clang++,\n' +
        '      or run only the TypeScript target: node scripts/fuzz.mjs --targets safetensors',
    );
    return null;
  }
  return cxx;
}

// The core sources and per-ISA compile options, read from CMakeLists.txt so the fuzz build
// follows the real one.
function coreSources() {
  const cmake = readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  const core = cmake.match(/set\(CORE\s+(\S+)\)/)?.[1];
  const lib = cmake.match(/add_library\(lmrec_core STATIC([\s\S]*?)\)/)?.[1];
  if (!core || !lib) throw new Error('fuzz: cannot find the lmrec_core source list in CMakeLists.txt');
  const expand = (s) => s.replaceAll('${CORE}', core);
  const sources = lib.split(/\s+/).filter(Boolean).map(expand);
  const arch = process.arch === 'x64' ? /x86_64/ : process.arch === 'arm64' ? /aarch64/ : null;
  // The if/elseif branches on CMAKE_SYSTEM_PROCESSOR: pick the one for this machine.
  const branches = cmake.split(/\n(?=(?:if|elseif)\(CMAKE_SYSTEM_PROCESSOR)|\nendif\(\)/);
  const branch = arch ? branches.find((b) => /^(?:if|elseif)\(CMAKE_SYSTEM_PROCESSOR/.test(b) && arch.test(b.split('\n')[0])) : undefined;
  const defs = [];
  if (branch) {
    for (const m of branch.matchAll(/target_sources\(lmrec_core PRIVATE([^)]*)\)/g))
      sources.push(...m[1].split(/\s+/).filter(Boolean).map(expand));
    for (const m of branch.matchAll(/list\(APPEND LMREC_KERNEL_DEFS([^)]*)\)/g)) defs.push(...m[1].split(/\s+/).filter(Boolean));
  }
  const options = new Map();
  for (const m of cmake.matchAll(/set_source_files_properties\((\S+)\s+PROPERTIES\s+COMPILE_OPTIONS\s+"([^"]*)"/g))
    options.set(expand(m[1]), m[2].split(';').filter(Boolean));
  const dispatch = sources.find((s) => s.endsWith('simd/dispatch.cpp'));
  return { core, sources, perFile: options, defines: new Map(dispatch ? [[dispatch, defs]] : []) };
}

function newestMtime(dirs) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.h$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of dirs) walk(d);
  return newest;
}

function run(cmd, args) {
  const r = spawnSync('nice', ['-n', '19', cmd, ...args], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`fuzz: failed: ${cmd} ${args.join(' ')}`);
    process.exit(1);
  }
}

function buildNative(cxx) {
  const { core, sources, perFile, defines } = coreSources();
  const obj = path.join(out, 'obj');
  mkdirSync(obj, { recursive: true });
  const flags = [
    '-std=c++17', '-O1', '-g', '-fno-omit-frame-pointer', '-pthread',
    '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fsanitize=fuzzer-no-link',
    '-Wall', '-Wextra', '-Wno-unknown-warning-option', `-I${core}`, '-Ifuzz',
  ];
  // Any header change (native/core or fuzz/) rebuilds everything: the build is small and this keeps it simple.
  const headers = newestMtime([path.join(root, core), path.join(root, 'fuzz')]);
  const objects = [];
  const compile = (src) => {
    const o = path.join(obj, src.replaceAll('/', '_').replace(/\.cpp$/, '.o'));
    const stale = !existsSync(o) || statSync(o).mtimeMs < Math.max(headers, statSync(path.join(root, src)).mtimeMs);
    if (stale) {
      console.log(`  compile ${src}`);
      const extra = [...(perFile.get(src) ?? []), ...(defines.get(src) ?? []).map((d) => `-D${d}`)];
      run(cxx, [...flags, ...extra, '-c', src, '-o', o]);
    }
    return o;
  };
  for (const src of sources) objects.push(compile(src));
  const link = (name, main, fuzzer) => {
    const bin = path.join(out, name);
    const mainObj = compile(main);
    const newest = Math.max(...[...objects, mainObj].map((o) => statSync(o).mtimeMs));
    if (!existsSync(bin) || statSync(bin).mtimeMs < newest) {
      console.log(`  link ${path.relative(root, bin)}`);
      const san = fuzzer ? '-fsanitize=fuzzer,address,undefined' : '-fsanitize=fuzzer-no-link,address,undefined';
      run(cxx, [san, '-pthread', mainObj, ...objects, '-o', bin]);
    }
    return bin;
  };
  return {
    index: link('fuzz_index', 'fuzz/fuzz_index.cpp', true),
    srm: link('fuzz_srm', 'fuzz/fuzz_srm.cpp', true),
    seeds: link('gen_seeds', 'fuzz/gen_seeds.cpp', false),
  };
}

// ---- native fuzzing -------------------------------------------------------------------------

function runOnce(bin, target, seconds, log) {
  const work = path.join(out, 'corpus', target);
  const findings = path.join(out, 'findings');
  mkdirSync(work, { recursive: true });
  mkdirSync(findings, { recursive: true });
  const args = [
    '-n', '19', bin,
    `-max_total_time=${seconds}`, '-print_final_stats=1', '-timeout=10', '-rss_limit_mb=2048', '-max_len=16384',
    `-dict=${path.join(root, 'fuzz', `${target}.dict`)}`, `-artifact_prefix=${findings}/${target}-`,
    work, path.join(root, 'fuzz', 'corpus', target),
  ];
  // The harness's scratch files: in memory when /dev/shm is writable; removed after the run
  // even when it crashed.
  let shm = false;
  try {
    accessSync('/dev/shm', constants.W_OK);
    shm = true;
  } catch {}
  const scratch = shm ? `/dev/shm/lmrec-fuzz-${process.pid}` : path.join(out, 'scratch');
  return new Promise((resolve) => {
    const child = spawn('nice', args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LMREC_FUZZ_SCRATCH: scratch },
    });
    let text = '';
    const take = (d) => {
      text += d;
      log.push(d.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => {
      rmSync(scratch, { recursive: true, force: true });
      const stat = (name) => Number(text.match(new RegExp(`stat::${name}:\\s+(\\d+)`))?.[1] ?? 0);
      const written = [...text.matchAll(/Test unit written to (\S+)/g)].map((m) => m[1]);
      const reason =
        text.match(/=== FUZZ INVARIANT BROKEN: .*/)?.[0] ??
        text.match(/SUMMARY: \w+Sanitizer: .*/)?.[0] ??
        text.match(/==\d+== ERROR: libFuzzer: .*/)?.[0] ??
        (code !== 0 ? `exit code ${code}` : null);
      resolve({ code, execs: stat('number_of_executed_units'), written, reason });
    });
  });
}

async function fuzzNative(bin, target, seconds, restarts) {
  const started = Date.now();
  const log = [];
  let execs = 0;
  const findings = [];
  for (let attempt = 0; attempt <= restarts; attempt++) {
    const left = Math.round(seconds - (Date.now() - started) / 1000);
    if (left < 1) break;
    process.stdout.write(`  ${target}: fuzzing ${left} s${attempt ? ` (restart ${attempt})` : ''}\n`);
    const r = await runOnce(bin, target, left, log);
    execs += r.execs;
    if (r.code === 0) break;
    findings.push({ reason: r.reason, files: r.written.map((f) => path.relative(root, f)) });
  }
  const elapsed = (Date.now() - started) / 1000;
  mkdirSync(path.join(out, 'logs'), { recursive: true });
  writeFileSync(path.join(out, 'logs', `${target}.log`), log.join(''));
  return { target, execs, perSecond: Math.round(execs / elapsed), findings };
}

// ---- TypeScript property run ----------------------------------------------------------------

function fuzzSafetensors(seconds) {
  const stats = path.join(out, 'safetensors-stats.json');
  mkdirSync(out, { recursive: true });
  if (!existsSync(path.join(root, 'node_modules', 'fast-check'))) {
    return { target: 'safetensors', execs: 0, perSecond: 0, findings: [{ reason: 'fast-check is not installed (npm install)', files: [] }] };
  }
  console.log(`  safetensors: property run ${seconds} s`);
  const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync('nice', ['-n', '19', process.execPath, vitest, 'run', 'test/fuzz-safetensors.test.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LMREC_FUZZ_SECONDS: String(seconds), LMREC_FUZZ_STATS: stats, LMREC_FUZZ_FINDINGS: path.join(out, 'findings') },
  });
  mkdirSync(path.join(out, 'logs'), { recursive: true });
  writeFileSync(path.join(out, 'logs', 'safetensors.log'), `${r.stdout}${r.stderr}`);
  let s = { runs: 0, seconds };
  try {
    s = JSON.parse(readFileSync(stats, 'utf8'));
  } catch {}
  const findings = [];
  if (r.status !== 0) {
    const text = `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
    for (const m of text.matchAll(/Error: (\S+: threw [^\n]*|\S+: [^\n]*)\n(?:counterexample saved to (\S+))?/g)) {
      if (findings.some((f) => f.reason === m[1])) continue;
      findings.push({ reason: m[1], files: [m[2] ? path.relative(root, m[2]) : 'build/fuzz/logs/safetensors.log'] });
    }
    if (!findings.length) findings.push({ reason: `vitest exited with ${r.status}`, files: ['build/fuzz/logs/safetensors.log'] });
  }
  return { target: 'safetensors', execs: s.runs, perSecond: Math.round(s.runs / Math.max(s.seconds, 1e-3)), findings };
}

// ---- main -----------------------------------------------------------------------------------

const opt = parseArgs(process.argv.slice(2));
const wantNative = opt.seeds || opt.build || opt.targets.some((t) => NATIVE.includes(t));
let bins = null;
let missingClang = false;
if (wantNative) {
  const cxx = findClang();
  if (cxx) {
    console.log('fuzz: building the native harnesses into build/fuzz/');
    bins = buildNative(cxx);
  } else {
    missingClang = true;
    if (opt.build || opt.seeds) process.exit(1);
  }
}
if (opt.seeds) {
  for (const t of NATIVE) mkdirSync(path.join(root, 'fuzz', 'corpus', t), { recursive: true });
  run(bins.seeds, [path.join(root, 'fuzz', 'corpus')]);
  process.exit(0);
}
if (opt.build) process.exit(0);

const results = [];
for (const target of opt.targets) {
  if (NATIVE.includes(target)) {
    if (!bins) {
      results.push({ target, execs: 0, perSecond: 0, skipped: 'clang not found' });
      continue;
    }
    results.push(await fuzzNative(bins[target], target, opt.seconds, opt.restarts));
  } else {
    results.push(fuzzSafetensors(opt.seconds));
  }
}

console.log('\nfuzz summary');
console.log('target        executions    exec/s   findings');
for (const r of results) {
  const findings = r.skipped ? `skipped: ${r.skipped}` : String(r.findings.length);
  console.log(`${r.target.padEnd(12)} ${String(r.execs).padStart(11)} ${String(r.perSecond).padStart(9)}   ${findings}`);
  for (const f of r.findings ?? []) {
    console.log(`    - ${f.reason ?? 'crash'}`);
    for (const file of f.files) console.log(`      ${file}`);
  }
}
const found = results.some((r) => r.findings?.length);
if (missingClang) console.log('\nnative targets skipped: install clang to run them');
process.exit(found ? 1 : missingClang ? 2 : 0);
