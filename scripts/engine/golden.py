"""Golden logits for the engine's correctness tests, from an independent forward pass in PyTorch.

Builds tiny random-weight checkpoints (gpt2 and llama-family, GQA, tied and untied heads, qwen2 biases, qwen3
qk-norm, llama3 rope scaling, fp32/fp16/bf16, one sharded) in Hugging Face layout, runs a plain PyTorch forward
written from the transformers modelling code, and writes the logits of every position.

Run once (Debian's python3-torch): /usr/bin/python3 scripts/engine/golden.py
Output: test/engine/fixtures/<name>/{config.json, model.safetensors | shards + index, golden.json}
"""
import json
import math
import os
import struct

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "engine", "fixtures")
TOKENS = [3, 17, 42, 8, 8, 25, 1, 60, 33, 12, 5, 47, 20]
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rnd(*shape, scale=0.2):
    return torch.randn(*shape) * scale


def norm_w(n):
    return 1.0 + torch.randn(n) * 0.1


# ---------------------------------------------------------------- gpt2

def gpt2_weights(c):
    H, I, V, P = c["n_embd"], c.get("n_inner") or 4 * c["n_embd"], c["vocab_size"], c["n_positions"]
    w = {"wte.weight": rnd(V, H), "wpe.weight": rnd(P, H, scale=0.05), "ln_f.weight": norm_w(H), "ln_f.bias": rnd(H, scale=0.05)}
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        w.update({
            p + "ln_1.weight": norm_w(H), p + "ln_1.bias": rnd(H, scale=0.05),
            p + "attn.c_attn.weight": rnd(H, 3 * H), p + "attn.c_attn.bias": rnd(3 * H, scale=0.05),
            p + "attn.c_proj.weight": rnd(H, H), p + "attn.c_proj.bias": rnd(H, scale=0.05),
            p + "ln_2.weight": norm_w(H), p + "ln_2.bias": rnd(H, scale=0.05),
            p + "mlp.c_fc.weight": rnd(H, I), p + "mlp.c_fc.bias": rnd(I, scale=0.05),
            p + "mlp.c_proj.weight": rnd(I, H), p + "mlp.c_proj.bias": rnd(H, scale=0.05),
        })
    if c.get("tie_word_embeddings") is False:
        w["lm_head.weight"] = rnd(V, H)
    return w


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(c, w, ids):
    H, nh = c["n_embd"], c["n_head"]
    d = H // nh
    T = len(ids)
    eps = c.get("layer_norm_epsilon", 1e-5)
    x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(T)]
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        h = torch.nn.functional.layer_norm(x, (H,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(H, dim=1)
        q, k, v = (t.view(T, nh, d).transpose(0, 1) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, H)
        x = x + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = torch.nn.functional.layer_norm(x, (H,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (H,), w["ln_f.weight"], w["ln_f.bias"], eps)
    head = w.get("lm_head.weight", w["wte.weight"])
    return x @ head.T


# ---------------------------------------------------------------- llama family

def llama_weights(c):
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    nh, nkv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    d = c.get("head_dim", H // nh)
    mt = c["model_type"]
    qkv_bias = mt == "qwen2" or c.get("attention_bias", False)
    o_bias = mt != "qwen2" and c.get("attention_bias", False)
    w = {"model.embed_tokens.weight": rnd(V, H, scale=0.5), "model.norm.weight": norm_w(H)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        w.update({
            p + "input_layernorm.weight": norm_w(H), p + "post_attention_layernorm.weight": norm_w(H),
            a + "q_proj.weight": rnd(nh * d, H), a + "k_proj.weight": rnd(nkv * d, H),
            a + "v_proj.weight": rnd(nkv * d, H), a + "o_proj.weight": rnd(H, nh * d),
            p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H), p + "mlp.down_proj.weight": rnd(H, I),
        })
        if qkv_bias:
            w.update({a + "q_proj.bias": rnd(nh * d, scale=0.1), a + "k_proj.bias": rnd(nkv * d, scale=0.1),
                      a + "v_proj.bias": rnd(nkv * d, scale=0.1)})
        if o_bias:
            w[a + "o_proj.bias"] = rnd(H, scale=0.1)
        if mt == "qwen3":
            w[a + "q_norm.weight"] = norm_w(d)
            w[a + "k_norm.weight"] = norm_w(d)
    if not c.get("tie_word_embeddings", False):
        w["lm_head.weight"] = rnd(V, H)
    return w


def rms(x, wt, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return wt * (x * torch.rsqrt(var + eps))


def inv_freq(c, d):
    base = c.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    s = c.get("rope_scaling")
    if not s:
        return inv
    if s.get("rope_type", s.get("type")) == "linear":
        return inv / s["factor"]
    factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    low_wl, high_wl = old / lo, old / hi
    wl = 2 * math.pi / inv
    out = torch.where(wl > low_wl, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wl < high_wl) * ~(wl > low_wl)
    return torch.where(medium, smoothed, out)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_forward(c, w, ids):
    H = c["hidden_size"]
    nh, nkv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    d = c.get("head_dim", H // nh)
    eps = c.get("rms_norm_eps", 1e-6)
    T = len(ids)
    freqs = torch.outer(torch.arange(T).float(), inv_freq(c, d))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        lin = lambda name, t: t @ w[a + name + ".weight"].T + (w[a + name + ".bias"] if a + name + ".bias" in w else 0)
        q = lin("q_proj", h).view(T, nh, d)
        k = lin("k_proj", h).view(T, nkv, d)
        v = lin("v_proj", h).view(T, nkv, d)
        if a + "q_norm.weight" in w:
            q = rms(q, w[a + "q_norm.weight"], eps)
            k = rms(k, w[a + "k_norm.weight"], eps)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=0)
        v = v.repeat_interleave(nh // nkv, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, nh * d)
        x = x + lin("o_proj", o)
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


# ---------------------------------------------------------------- fixtures

BASE_LLAMA = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
              "vocab_size": 64, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "hidden_act": "silu"}
FIXTURES = [
    ("gpt2-tied", {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 64,
                   "n_positions": 64, "activation_function": "gelu_new"}, torch.float32, False),
    ("gpt2-untied-fp16", {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 64,
                          "n_positions": 64, "n_inner": 40, "tie_word_embeddings": False}, torch.float16, False),
    ("llama-gqa", {**BASE_LLAMA, "model_type": "llama", "num_key_value_heads": 2, "tie_word_embeddings": False},
     torch.float32, False),
    ("llama3-scaled-tied-bf16", {**BASE_LLAMA, "model_type": "llama", "num_key_value_heads": 1, "rope_theta": 500000.0,
                                 "tie_word_embeddings": True,
                                 "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 16}},
     torch.bfloat16, False),
    ("mistral-sharded", {**BASE_LLAMA, "model_type": "mistral", "num_key_value_heads": 2, "sliding_window": None,
                         "rope_theta": 1000000.0}, torch.float32, True),
    ("qwen2-bias-tied", {**BASE_LLAMA, "model_type": "qwen2", "num_key_value_heads": 2, "tie_word_embeddings": True},
     torch.float32, False),
    ("qwen3-qknorm", {**BASE_LLAMA, "model_type": "qwen3", "num_key_value_heads": 2, "head_dim": 16,
                      "tie_word_embeddings": False}, torch.float32, False),
]


def main():
    for name, config, dtype, sharded in FIXTURES:
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        weights = gpt2_weights(config) if config["model_type"] == "gpt2" else llama_weights(config)
        stored = {k: v.to(dtype) for k, v in weights.items()}
        as_read = {k: v.float() for k, v in stored.items()}  # what the engine sees after widening
        with torch.no_grad():
            fwd = gpt2_forward if config["model_type"] == "gpt2" else llama_forward
            logits = fwd(config, as_read, torch.tensor(TOKENS))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({**config, "torch_dtype": {torch.float32: "float32", torch.float16: "float16",
                                                 torch.bfloat16: "bfloat16"}[dtype]}, f, indent=1)
        if sharded:
            names = sorted(stored)
            half = len(names) // 2
            shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
            wmap = {}
            for shard, ns in shards.items():
                save_safetensors(os.path.join(d, shard), {n: stored[n] for n in ns})
                wmap.update({n: shard for n in ns})
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": wmap}, f, indent=1)
        else:
            save_safetensors(os.path.join(d, "model.safetensors"), stored)
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump({"tokens": TOKENS, "torch": torch.__version__,
                       "logits": [[float(f"{v:.7g}") for v in row] for row in logits.tolist()]}, f)
        print(name, tuple(logits.shape), float(logits.abs().max()))


if __name__ == "__main__":
    main()
