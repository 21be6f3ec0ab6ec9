"""PyTorch SASRec for cross-checking lmrec's native SRM (bench/crosscheck/srm.ts drives it).

  python3 srm_torch.py grad  IN.json OUT.json   loss and gradients of lmrec's weights (float64, autograd)
  python3 srm_torch.py train IN.json OUT.json   trains SASRec with full cross-entropy, reports leave-one-out metrics

The model is SASRec as in its reference PyTorch port (pmixer/SASRec.pytorch), with the
cross-entropy loss of "gSASRec"/"SASRec+CE": item embeddings scaled by sqrt(d) plus learned
positions (the newest event last), per block q = LN1(x), h = q + MHA(q; keys and values x,
causal), n = LN2(h), x' = n + FFN(n); a final LN; scores = hidden . item embeddings.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


class SASRec(torch.nn.Module):
    def __init__(self, items, dim, blocks, heads, max_len, dropout):
        super().__init__()
        self.items, self.dim, self.heads, self.max_len, self.p = items, dim, heads, max_len, dropout
        self.item_emb = torch.nn.Parameter(torch.empty(items, dim))
        self.pos_emb = torch.nn.Parameter(torch.empty(max_len, dim))
        self.blocks = torch.nn.ModuleList()
        for _ in range(blocks):
            b = torch.nn.Module()
            b.ln1 = torch.nn.LayerNorm(dim, eps=1e-8)
            b.q, b.k, b.v, b.o = (torch.nn.Linear(dim, dim) for _ in range(4))
            b.ln2 = torch.nn.LayerNorm(dim, eps=1e-8)
            b.w1, b.w2 = torch.nn.Linear(dim, dim), torch.nn.Linear(dim, dim)
            self.blocks.append(b)
        self.final_ln = torch.nn.LayerNorm(dim, eps=1e-8)
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.xavier_normal_(p)

    def named_tensors(self):
        """Parameters under lmrec's names (native/core/srm/params.cpp)."""
        out = {"item_emb": self.item_emb, "pos_emb": self.pos_emb}
        for i, b in enumerate(self.blocks):
            p = f"block{i}."
            out.update({p + "ln1.gain": b.ln1.weight, p + "ln1.bias": b.ln1.bias})
            for n in "qkvo":
                out[p + "attn.w" + n] = getattr(b, n).weight
                out[p + "attn.b" + n] = getattr(b, n).bias
            out.update({p + "ln2.gain": b.ln2.weight, p + "ln2.bias": b.ln2.bias})
            out.update({p + "ffn.w1": b.w1.weight, p + "ffn.b1": b.w1.bias, p + "ffn.w2": b.w2.weight, p + "ffn.b2": b.w2.bias})
        out.update({"final_ln.gain": self.final_ln.weight, "final_ln.bias": self.final_ln.bias})
        return out

    def forward(self, seqs, lengths):
        """seqs: [B, L] left-padded item ids (padding anywhere before the real events); lengths: [B]."""
        B, L = seqs.shape
        dev = seqs.device
        pos = torch.arange(L, device=dev) + (self.max_len - L)
        valid = torch.arange(L, device=dev)[None, :] >= (L - lengths)[:, None]  # [B, L]
        x = self.item_emb[seqs.clamp(min=0)] * math.sqrt(self.dim) + self.pos_emb[pos][None]
        x = F.dropout(x, self.p, self.training) * valid[..., None]
        causal = torch.ones(L, L, dtype=torch.bool, device=dev).tril()
        mask = causal[None] & valid[:, None, :]  # query i may see key j
        dh = self.dim // self.heads
        for b in self.blocks:
            q = b.ln1(x)
            Q = b.q(q).view(B, L, self.heads, dh).transpose(1, 2)
            K = b.k(x).view(B, L, self.heads, dh).transpose(1, 2)
            V = b.v(x).view(B, L, self.heads, dh).transpose(1, 2)
            s = Q @ K.transpose(-1, -2) / math.sqrt(dh)
            s = s.masked_fill(~mask[:, None], float("-inf"))
            p = torch.softmax(s, -1).nan_to_num(0.0)  # fully padded rows
            p = F.dropout(p, self.p, self.training)
            a = (p @ V).transpose(1, 2).reshape(B, L, self.dim)
            h = q + b.o(a)
            n = b.ln2(h)
            f = F.dropout(F.relu(b.w1(n)), self.p, self.training)
            x = (n + F.dropout(b.w2(f), self.p, self.training)) * valid[..., None]
        return self.final_ln(x), valid


def windows(seqs, max_len):
    """lmrec's epoch windows: up to max_len + 1 events from each sequence's end, stepping back by max_len."""
    out = []
    for s in seqs:
        e = len(s)
        while e >= 2:
            b = max(0, e - max_len - 1)
            out.append(s[b:e])
            e = e - max_len if e > max_len else 0
    return out


def batch(wins, max_len, device):
    L = max(len(w) - 1 for w in wins)
    inp = torch.full((len(wins), L), -1, dtype=torch.long)
    tgt = torch.full((len(wins), L), -1, dtype=torch.long)
    lengths = torch.tensor([len(w) - 1 for w in wins])
    for i, w in enumerate(wins):
        n = len(w) - 1
        inp[i, L - n :] = torch.tensor(w[:-1])
        tgt[i, L - n :] = torch.tensor(w[1:])
    return inp.to(device), tgt.to(device), lengths.to(device)


def loss_of(model, inp, tgt, lengths):
    out, valid = model(inp, lengths)
    logits = out[valid] @ model.item_emb.T
    return F.cross_entropy(logits, tgt[valid])


def grad(cfg):
    torch.set_default_dtype(torch.float64)
    s = cfg["shape"]
    model = SASRec(s["items"], s["dim"], s["blocks"], s["heads"], s["maxLen"], 0.0)
    named = model.named_tensors()
    with torch.no_grad():
        for t in cfg["layout"]:
            flat = torch.tensor(cfg["params"][t["offset"] : t["offset"] + t["rows"] * t["cols"]])
            named[t["name"]].copy_(flat.view(named[t["name"]].shape))
    model.eval()  # dropout off
    inp, tgt, lengths = batch(windows(cfg["sequences"], s["maxLen"]), s["maxLen"], "cpu")
    loss = loss_of(model, inp, tgt, lengths)
    loss.backward()
    return {"loss": loss.item(), "gradients": {name: p.grad.flatten().tolist() for name, p in named.items()}}


def rank_metrics(model, splits, items, max_len, ks=(1, 5, 10, 20)):
    model.eval()
    hits = {k: 0.0 for k in ks}
    ndcg = {k: 0.0 for k in ks}
    mrr = 0.0
    with torch.no_grad():
        for i in range(0, len(splits), 256):
            chunk = splits[i : i + 256]
            hist = [h["history"][-max_len:] for h in chunk]
            wins = [h + [0] for h in hist]  # batch() wants a target after the inputs
            inp, _, lengths = batch(wins, max_len, "cpu")
            out, _ = model(inp, lengths)
            scores = out[:, -1] @ model.item_emb.T
            for j, h in enumerate(chunk):
                row = scores[j].clone()
                t = h["target"]
                target = row[t].item()
                row[torch.tensor(h["history"], dtype=torch.long)] = float("-inf")
                row[t] = target
                rank = int((row > target).sum())
                mrr += 1 / (rank + 1)
                for k in ks:
                    if rank < k:
                        hits[k] += 1
                        ndcg[k] += 1 / math.log2(rank + 2)
    n = len(splits)
    out = {}
    for k in ks:
        out[f"HR@{k}"], out[f"NDCG@{k}"] = hits[k] / n, ndcg[k] / n
    out["MRR"] = mrr / n
    return out


def train(cfg):
    torch.manual_seed(cfg.get("seed", 1))
    torch.set_num_threads(cfg.get("threads", 2))
    s, o = cfg["shape"], cfg["train"]
    model = SASRec(s["items"], s["dim"], s["blocks"], s["heads"], s["maxLen"], o["dropout"])
    opt = torch.optim.Adam(model.parameters(), lr=o["lr"], betas=(0.9, 0.98))
    wins = windows(cfg["train_sequences"], s["maxLen"])
    best, best_state, since, history = -1.0, None, 0, []
    for epoch in range(o["epochs"]):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(wins)).tolist()
        total, steps = 0.0, 0
        for b in range(0, len(order), o["batchSize"]):
            inp, tgt, lengths = batch([wins[i] for i in order[b : b + o["batchSize"]]], s["maxLen"], "cpu")
            loss = loss_of(model, inp, tgt, lengths)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        seconds = time.time() - t0
        valid = rank_metrics(model, cfg["valid"], s["items"], s["maxLen"], (10,))["NDCG@10"]
        history.append({"epoch": epoch, "loss": total / steps, "valid_ndcg10": valid, "seconds": seconds})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
        if valid > best:
            best, since = valid, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= o["patience"]:
                break
    model.load_state_dict(best_state)
    return {"history": history, "test": rank_metrics(model, cfg["test"], s["items"], s["maxLen"])}


if __name__ == "__main__":
    mode, src, dst = sys.argv[1:4]
    cfg = json.load(open(src))
    result = grad(cfg) if mode == "grad" else train(cfg)
    json.dump(result, open(dst, "w"))
