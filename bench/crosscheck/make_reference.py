"""Random Hugging Face decoders and their hidden states from the transformers library.

Run where torch and transformers are installed (the GPU machine has them; the work is done on
its CPU in fp32, so TF32 cannot blur the reference):
    python3 bench/crosscheck/make_reference.py [--tiny] OUT [NAME ...]
(NAME: qwen2, llama-bf16, bert; default all), then compare lmrec against it here:
    npx tsx bench/crosscheck/compare.ts OUT
Each OUT/<name>/ holds config.json, model.safetensors and reference.json. --tiny makes models of
a few dozen KB: they are committed under test/fixtures/transformers/ as npm test's oracle.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

args = sys.argv[1:]
tiny = "--tiny" in args
args = [a for a in args if a != "--tiny"]
out = args[0]
only = set(args[1:])
torch.manual_seed(0)
# (hidden, layers, heads, kv heads, qwen2 / llama / bert intermediate, vocab, tokens)
H, L, NH, KV, IQ, IL, IB, V, T = (32, 3, 4, 2, 88, 80, 64, 128, 16) if tiny else (256, 4, 8, 2, 704, 688, 1024, 1000, 24)
common = dict(hidden_size=H, num_hidden_layers=L, num_attention_heads=NH, vocab_size=V,
              max_position_embeddings=64 if tiny else 512, initializer_range=0.08)
cases = {
    # q/k/v biases, grouped-query attention, large rope theta, tied head
    "qwen2": (Qwen2ForCausalLM(Qwen2Config(intermediate_size=IQ, num_key_value_heads=KV, rope_theta=1e6,
                                           rms_norm_eps=1e-6, tie_word_embeddings=True, **common)), torch.float32),
    # untied head, weights stored as bf16
    "llama-bf16": (LlamaForCausalLM(LlamaConfig(intermediate_size=IL, num_key_value_heads=NH // 2, rope_theta=10000.0,
                                                rms_norm_eps=1e-5, tie_word_embeddings=False, **common)), torch.bfloat16),
    # a post-LayerNorm encoder (MiniLM/bge/e5/gte family); no head
    "bert": (BertModel(BertConfig(intermediate_size=IB, **common), add_pooling_layer=False), torch.float32),
}
for name, (model, dtype) in cases.items():
    if only and name not in only:
        continue
    model.eval()
    with torch.no_grad():
        for n, p in model.named_parameters():  # random biases too (transformers initialises them to zero)
            if n.endswith(".bias"):
                p.normal_(0, 0.1)
        # Round the weights to the storage dtype but compute in fp32. (model.to(bf16) would also
        # round buffers such as the rotary inv_freq, which a bf16 checkpoint does not store.)
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.config.save_pretrained(d)
    state = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()
             if not (model.config.tie_word_embeddings and k == "lm_head.weight")}
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    captured = {}
    decoder = hasattr(model, "model")
    if decoder:
        model.model.layers[-1].register_forward_hook(
            lambda mod, inp, outp: captured.__setitem__("prenorm", outp[0] if isinstance(outp, tuple) else outp))
    ids = torch.randint(0, V, (1, T))
    with torch.no_grad():
        o = model(ids, output_hidden_states=True)
    ref = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "input_ids": ids[0].tolist(),
        "hidden_states": [h[0].tolist() for h in o.hidden_states],
    }
    if decoder:
        ref["last_layer_prenorm"] = captured["prenorm"][0].tolist()
        ref["last_logits"] = o.logits[0, -1].tolist()
    with open(os.path.join(out, name, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(name, "saved", dtype, "hidden states", len(ref["hidden_states"]))
