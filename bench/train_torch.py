"""PyTorch baseline for bench:train: the same Llama-style decoder (RMSNorm, RoPE, grouped-query
causal attention, SwiGLU, tied head), the same batch of equal-length sequences (so neither side
pads), AdamW with clipping, on the same number of CPU threads. Prints one JSON line.

Usage: python3 train_torch.py '{"vocab":4096,"dim":256,...,"threads":2,"steps":5,"warmup":2}'
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
V, D, L, H, KV, FF = cfg["vocab"], cfg["dim"], cfg["layers"], cfg["heads"], cfg["kvHeads"], cfg["ffn"]
S, B = cfg["seqLen"], cfg["seqs"]
dh = D // H


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(D))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


inv = 1.0 / (10000 ** (torch.arange(0, dh, 2).float() / dh))
ang = torch.arange(S).float()[:, None] * inv[None, :]
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)


def rope(x):  # [B, heads, S, dh]
    x1, x2 = x[..., : dh // 2], x[..., dh // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


mask = torch.full((S, S), float("-inf")).triu(1)


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(), RMSNorm()
        self.q = torch.nn.Linear(D, D, bias=False)
        self.k = torch.nn.Linear(D, KV * dh, bias=False)
        self.v = torch.nn.Linear(D, KV * dh, bias=False)
        self.o = torch.nn.Linear(D, D, bias=False)
        self.gate = torch.nn.Linear(D, FF, bias=False)
        self.up = torch.nn.Linear(D, FF, bias=False)
        self.down = torch.nn.Linear(FF, D, bias=False)

    def forward(self, x):
        n = self.n1(x)
        q = rope(self.q(n).view(B, S, H, dh).transpose(1, 2))
        k = rope(self.k(n).view(B, S, KV, dh).transpose(1, 2)).repeat_interleave(H // KV, 1)
        v = self.v(n).view(B, S, KV, dh).transpose(1, 2).repeat_interleave(H // KV, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, -1)
        h = x + self.o((att @ v).transpose(1, 2).reshape(B, S, D))
        n = self.n2(h)
        return h + self.down(F.silu(self.gate(n)) * self.up(n))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        self.norm = RMSNorm()

    def forward(self, t):
        x = self.emb(t)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x) @ self.emb.weight.T


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
tokens = torch.randint(0, V, (B, S + 1))


def step():
    logits = model(tokens[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(cfg["warmup"]):
    step()
times = []
for _ in range(cfg["steps"]):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "stepSeconds": times,
                  "tokensPerSecond": B * S / median}))
