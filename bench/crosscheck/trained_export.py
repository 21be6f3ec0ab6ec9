"""Loads models that lmrec's native trainer trained and exported, in transformers, and compares
transformers' logits with the trainer's own (written beside each model as expected.json).

    npx tsx bench/crosscheck/trained-export.ts OUT        # here: train, export, expected logits
    python3 bench/crosscheck/trained_export.py OUT        # where transformers is installed

Prints one JSON object per model: the largest absolute logit difference, in fp32 on the CPU.
"""
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

out = sys.argv[1]
report = {"transformers": transformers.__version__, "torch": torch.__version__, "models": {}}
for name in sorted(os.listdir(out)):
    d = os.path.join(out, name)
    if not os.path.isfile(os.path.join(d, "expected.json")):
        continue
    expected = json.load(open(os.path.join(d, "expected.json")))
    model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d)
    worst = 0.0
    for case in expected["cases"]:
        ids = torch.tensor([case["tokens"]])
        with torch.no_grad():
            logits = model(ids).logits[0]
        ref = torch.tensor(case["logits"]).view(logits.shape)
        worst = max(worst, (logits - ref).abs().max().item())
    text = expected["text"]
    report["models"][name] = {
        "maxAbsLogitDiff": worst,
        "tokenizerMatches": tok(text, add_special_tokens=False)["input_ids"] == expected["textTokens"],
        "decodes": tok.decode(expected["textTokens"]) == text,
    }
print(json.dumps(report, indent=1))
