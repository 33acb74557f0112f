"""Train the shipped tiny model: a llama-shaped decoder on the King James Bible (public domain, 1611).

Text: Debian's bible-kjv-text package, dumped with its `bible` program:
    apt-get install bible-kjv && bible -f "Gen1:1-Rev22:21" > /tmp/kjv.txt
Tokenizer: byte-level BPE (GPT-2 style, 1024 tokens) trained here on the same text.
Model: llama (RMSNorm, RoPE, GQA 4 query / 2 KV heads, SwiGLU, tied embeddings), trained with AdamW on CPU
(Debian's python3-torch) for a fixed budget of CPU seconds. Output in Hugging Face layout under models/kjv-llama-tiny/.

    /usr/bin/python3 scripts/engine/train_tiny.py /tmp/kjv.txt [cpu-seconds]
"""
import collections
import json
import math
import os
import re
import struct
import sys
import time

# One thread, and OpenBLAS's own pool off: Debian's torch calls OpenBLAS (pthreads) inside its OpenMP threads, and
# on a busy 2-core machine the two pools fight. Measured here: 1 thread 0.34 CPU s per step, 2 threads 2.9 CPU s.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
OUT = os.environ.get("OUT_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "models", "kjv-llama-tiny")
VOCAB = 1024
CFG = dict(hidden_size=192, intermediate_size=512, num_hidden_layers=6, num_attention_heads=6,
           num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0)
SEQ, BATCH, LR = 256, 16, 3e-3
EOT = "<|endoftext|>"


# ---------------------------------------------------------------- text

def load_text(path):
    books, current, book = [], [], None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line.strip())
        if not m:
            continue
        if m.group(1) != book and current:
            books.append("\n".join(current))
            current = []
        book = m.group(1)
        current.append(m.group(4))
    books.append("\n".join(current))
    return books


# ---------------------------------------------------------------- byte-level BPE

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def train_bpe(books):
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for text in books:
        for w in PAT.findall(text):
            words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    vocab = {EOT: 0}
    for ch in sorted(b2u.values(), key=lambda c: ord(c)):
        vocab[ch] = len(vocab)
    merges = []
    words = {w: c for w, c in words.items()}
    while len(vocab) < VOCAB:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab[a + b] = len(vocab)
        nxt = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nxt[tuple(out)] = nxt.get(tuple(out), 0) + c
        words = nxt
    return vocab, merges


def encoder(vocab, merges):
    b2u = bytes_to_unicode()
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    cache = {}

    def bpe(word):
        if word in cache:
            return cache[word]
        parts = list(word)
        while len(parts) > 1:
            best = min(((ranks.get((a, b), 1e9), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))))
            if best[0] == 1e9:
                break
            i = best[1]
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
        cache[word] = [vocab[p] for p in parts]
        return cache[word]

    def encode(text):
        ids = []
        for w in PAT.findall(text):
            ids.extend(bpe("".join(b2u[b] for b in w.encode("utf-8"))))
        return ids

    return encode


def tokenizer_json(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


# ---------------------------------------------------------------- model

class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.d = H // self.nh
        self.eps = c["rms_norm_eps"]
        p = {}
        init = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
        p["model.embed_tokens.weight"] = init(VOCAB, H)
        p["model.norm.weight"] = torch.nn.Parameter(torch.ones(H))
        for i in range(c["num_hidden_layers"]):
            q = f"model.layers.{i}."
            p[q + "input_layernorm.weight"] = torch.nn.Parameter(torch.ones(H))
            p[q + "post_attention_layernorm.weight"] = torch.nn.Parameter(torch.ones(H))
            p[q + "self_attn.q_proj.weight"] = init(self.nh * self.d, H)
            p[q + "self_attn.k_proj.weight"] = init(self.nkv * self.d, H)
            p[q + "self_attn.v_proj.weight"] = init(self.nkv * self.d, H)
            p[q + "self_attn.o_proj.weight"] = torch.nn.Parameter(torch.randn(H, H) * 0.02 / math.sqrt(2 * c["num_hidden_layers"]))
            p[q + "mlp.gate_proj.weight"] = init(I, H)
            p[q + "mlp.up_proj.weight"] = init(I, H)
            p[q + "mlp.down_proj.weight"] = torch.nn.Parameter(torch.randn(H, I) * 0.02 / math.sqrt(2 * c["num_hidden_layers"]))
        # Module attribute names may not contain '.', so parameters live in a list with a name map.
        self.names = list(p.keys())
        self.params = torch.nn.ParameterList([p[n] for n in self.names])
        self.idx = {n: i for i, n in enumerate(self.names)}
        self.layers = c["num_hidden_layers"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.d, 2).float() / self.d))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"]).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def w(self, n):
        return self.params[self.idx[n]]

    def rms(self, x, n):
        return self.w(n) * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids):
        B, T = ids.shape
        x = self.w("model.embed_tokens.weight")[ids]
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.triu(torch.full((T, T), float("-inf")), 1)

        def rot(t):
            h = t.shape[-1] // 2
            return t * cos + torch.cat((-t[..., h:], t[..., :h]), -1) * sin

        for i in range(self.layers):
            q_ = f"model.layers.{i}."
            h = self.rms(x, q_ + "input_layernorm.weight")
            q = (h @ self.w(q_ + "self_attn.q_proj.weight").T).view(B, T, self.nh, self.d).transpose(1, 2)
            k = (h @ self.w(q_ + "self_attn.k_proj.weight").T).view(B, T, self.nkv, self.d).transpose(1, 2)
            v = (h @ self.w(q_ + "self_attn.v_proj.weight").T).view(B, T, self.nkv, self.d).transpose(1, 2)
            q, k = rot(q), rot(k)
            k = k.repeat_interleave(self.nh // self.nkv, dim=1)
            v = v.repeat_interleave(self.nh // self.nkv, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d) + mask, -1)
            o = (att @ v).transpose(1, 2).reshape(B, T, -1)
            x = x + o @ self.w(q_ + "self_attn.o_proj.weight").T
            h = self.rms(x, q_ + "post_attention_layernorm.weight")
            g = F.silu(h @ self.w(q_ + "mlp.gate_proj.weight").T) * (h @ self.w(q_ + "mlp.up_proj.weight").T)
            x = x + g @ self.w(q_ + "mlp.down_proj.weight").T
        x = self.rms(x, "model.norm.weight")
        return x @ self.w("model.embed_tokens.weight").T


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        raw = tensors[name].detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/tmp/kjv.txt"
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 2400
    books = load_text(src)
    t0 = time.time()
    vocab, merges = train_bpe(books)
    encode = encoder(vocab, merges)
    ids = []
    for b in books:
        ids.extend(encode(b))
        ids.append(0)
    data = torch.tensor(ids, dtype=torch.long)
    n_val = len(data) // 50
    train, val = data[:-n_val], data[-n_val:]
    print(f"bpe {time.time() - t0:.0f}s; {len(data)} tokens ({sum(map(len, books)) / len(data):.2f} chars/token)", flush=True)
    model = Llama(CFG)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    # The budget is CPU time of this process, so a busy machine trains the same model, only later.
    start, step, losses = time.process_time(), 0, []
    wall = time.time()

    def batch(src_data):
        ix = torch.randint(len(src_data) - SEQ - 1, (BATCH,), generator=g)
        return torch.stack([src_data[i:i + SEQ] for i in ix]), torch.stack([src_data[i + 1:i + SEQ + 1] for i in ix])

    while time.process_time() - start < budget:
        frac = (time.process_time() - start) / budget
        lr = LR * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        x, y = batch(train)
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {sum(losses[-50:]) / 50:.3f} lr {lr:.2e} cpu {time.process_time() - start:.0f}s wall {time.time() - wall:.0f}s", flush=True)
    with torch.no_grad():
        vl = sum(F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1)).item() for x, y in (batch(val) for _ in range(10))) / 10
    print(f"done: {step} steps, {step * BATCH * SEQ} tokens, val loss {vl:.3f}", flush=True)
    os.makedirs(OUT, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **CFG, "vocab_size": VOCAB,
              "hidden_act": "silu", "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0,
              "torch_dtype": "float32", "attention_bias": False, "mlp_bias": False}
    json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)
    save_safetensors(os.path.join(OUT, "model.safetensors"), {n: model.w(n) for n in model.names})
    json.dump(tokenizer_json(vocab, merges), open(os.path.join(OUT, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump({"add_bos_token": False, "eos_token": EOT, "bos_token": EOT, "model_max_length": 512,
               "tokenizer_class": "GPT2Tokenizer"}, open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)
    json.dump({"source": "King James Bible, Debian bible-kjv-text 4.38 (public domain)", "parameters": n_params,
               "steps": step, "batch": BATCH, "seq": SEQ, "tokens_seen": step * BATCH * SEQ,
               "train_cpu_seconds": round(time.process_time() - start), "train_wall_seconds": round(time.time() - wall), "final_train_loss": round(sum(losses[-50:]) / 50, 3),
               "val_loss": round(vl, 3), "torch": torch.__version__}, open(os.path.join(OUT, "training.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
