/** `lmrec serve`: serve a fitted recommender over HTTP (src/cli/serve.ts runs it). */
import { Command } from 'commander';
import type { CommandKit } from '../command-kit.js';
import { Option } from 'commander';
import { budget, indexChoice, nonNegative, nonNegativeInt, positiveInt } from '../options.js';
import { runServe, type ServeCliOptions } from '../serve.js';

export function serveCommand(kit: CommandKit): Command {
  return new Command('serve')
    .description('serve a fitted recommender over HTTP (JSON API v1, OpenAPI at /openapi.json, metrics at /metrics)')
    .requiredOption('--model <dir>', 'recommender directory (lmrec fit)')
    .option('--store <where>', 'SQLite file, or postgres://user:pass@host/db for replicas sharing one database (default <model>.db)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', nonNegativeInt, 8080)
    .option('--token <token>', 'require Authorization: Bearer <token> (or set LMREC_TOKEN)')
    .option('--body-limit <bytes>', 'largest request body', positiveInt, 2 ** 20)
    .option('--rate-limit <n>', 'requests per minute per client address (default: no limit)', positiveInt)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .option('--update-interval <time>', "at most one background SRM update per this time ('2s', '1m'; events meanwhile join the next)", budget, 2)
    .option('--update-threads <n>', 'threads the background SRM updates train on (the rest serve requests)', positiveInt, 1)
    .option('--index <kind>', "'exact' (scan every item), 'partitioned' (scan the partitions nearest each query; or a partition count) or 'auto' (partitioned from 200,000 items)", indexChoice, 'auto')
    .option('--rerank <dir>', 're-rank each answer with a model lmrec pretrain trained on this catalog and tuned with --local-layers (the LM stage: an LM run a request)')
    .option('--rerank-weight <w>', "weight of the model's item-head score beside the SRM's (choose it on validation users: docs/benchmarks.md)", nonNegative, 1)
    .option('--rerank-candidates <n>', "how many of the SRM's best are re-ranked (at least k)", positiveInt, 50)
    .option('--rerank-events <n>', 'the last this many history events are read', positiveInt, 20)
    .addOption(new Option('--rerank-precision <p>', "the model's matrix products").choices(['fp32', 'int8']).default('fp32'))
    .option('--rerank-threads <n>', 'onnxruntime threads the model runs on', positiveInt, 1)
    .option('--heap-arenas <n>', "glibc heap arenas the process allocates from (MALLOC_ARENA_MAX; fewer hold less memory after each model update)", positiveInt, 2)
    .addHelpText(
      'after',
      kit.examples(
        'lmrec fit --items items.jsonl --events events.jsonl --out rec',
        'lmrec serve --model rec --port 8080 &',
        '# with the LM stage: a model trained on the catalog, tuned for late interaction',
        'lmrec pretrain --items items.jsonl --events events.jsonl --layers 6 --out lm',
        'lmrec pretrain --items items.jsonl --events events.jsonl --model lm --local-layers 2 --freeze-layers 2 --out tuned',
        'lmrec serve --model rec --rerank tuned --rerank-weight 0.5 --port 8080 &',
        "curl -s localhost:8080/v1/users/u5/recommendations?k=5",
        "curl -s 'localhost:8080/v1/users/u5/recommendations?k=5&category=c3&exclude_seen=false'",
        "curl -s -XPOST localhost:8080/v1/recommend -H 'content-type: application/json' -d '{\"history\":[\"i3\",\"i17\"],\"k\":5}'",
        "curl -s -XPOST localhost:8080/v1/events -H 'content-type: application/json' -d '{\"events\":[{\"user\":\"u5\",\"item\":\"i42\"}]}'",
        "curl -s -XPUT localhost:8080/v1/items/new1 -H 'content-type: application/json' -d '{\"fields\":{\"title\":\"Matte lipstick\",\"category\":\"c3\"}}'",
        'curl -s localhost:8080/v1/items/new1/similar?k=5',
        "curl -s -XPOST localhost:8080/v1/candidates -H 'content-type: application/json' -d '{\"history\":[\"i3\"],\"n\":50}'",
        'curl -s -XDELETE localhost:8080/v1/items/new1',
        'curl -s localhost:8080/metrics; curl -s localhost:8080/openapi.json',
      ),
    )
    .action(async (opts: ServeCliOptions) => {
      await runServe(opts);
    });
}
