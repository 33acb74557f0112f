"""PyTorch eager on CPU beside the engine: the same GPT-2-small-shaped model and method as bench/engine.bench.ts.

12 layers, 768 wide, 12 heads, 50,257 vocabulary, 1024 positions, random fp32 weights (tied LM head). A GPT-2
forward written here in plain torch (no transformers), with a preallocated KV cache per layer: prefill of PROMPT
tokens per sequence (logits of the last token only, as the engine computes them), then DECODE single-token steps
(the median step reported); batch 1 and batch 8, each run once to warm up (its prefill reported as the cold one),
then measured (the median of ENGINE_BENCH_REPEAT prefills). Prints one JSON line.

  /usr/bin/python3 scripts/engine/torch_bench.py        (Debian's python3-torch; bench/engine.bench.ts runs it)
  ENGINE_BENCH_PROMPT, ENGINE_BENCH_DECODE, ENGINE_BENCH_THREADS as for the TypeScript bench (threads default 2);
  the bench runs it with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset and OMP_WAIT_POLICY=PASSIVE (see torchEnv there).
"""
import json
import math
import os
import platform
import time

import torch
import torch.nn.functional as F

PROMPT = int(os.environ.get("ENGINE_BENCH_PROMPT", 128))
DECODE = int(os.environ.get("ENGINE_BENCH_DECODE", 16))
THREADS = int(os.environ.get("ENGINE_BENCH_THREADS", 2))
REPEAT = int(os.environ.get("ENGINE_BENCH_REPEAT", 3))
H, LAYERS, HEADS, VOCAB, POSITIONS = 768, 12, 12, 50257, 1024
D = H // HEADS
EPS = 1e-5

torch.set_num_threads(THREADS)
torch.manual_seed(1)


def rnd(*shape, scale=0.02):
    return (torch.rand(*shape) * 2 - 1) * scale


# nn.Linear layout [out, in]: what F.linear (and so almost every PyTorch model) multiplies by.
wte, wpe = rnd(VOCAB, H), rnd(POSITIONS, H, scale=0.01)
ln_f = (torch.ones(H), torch.zeros(H))
layers = [
    dict(
        ln1=(torch.ones(H), torch.zeros(H)),
        attn_w=rnd(3 * H, H),
        attn_b=torch.zeros(3 * H),
        proj_w=rnd(H, H),
        proj_b=torch.zeros(H),
        ln2=(torch.ones(H), torch.zeros(H)),
        fc_w=rnd(4 * H, H),
        fc_b=torch.zeros(4 * H),
        out_w=rnd(H, 4 * H),
        out_b=torch.zeros(H),
    )
    for _ in range(LAYERS)
]
layer_tensors = [t for l in layers for v in l.values() for t in (v if isinstance(v, tuple) else (v,))]
weight_bytes = 4 * (wte.numel() + wpe.numel() + 2 * H + sum(t.numel() for t in layer_tensors))


def forward(ids, start, kcache, vcache):
    """ids [B, T] at positions start..start+T-1; writes K/V into the caches [B, HEADS, max, D]; last-token logits."""
    B, T = ids.shape
    x = wte[ids] + wpe[start : start + T]
    end = start + T
    causal = None
    if T > 1:
        # Query t (absolute start+t) sees keys 0..start+t.
        causal = torch.ones(T, end, dtype=torch.bool).tril(diagonal=start).logical_not()
    for i, l in enumerate(layers):
        h = F.layer_norm(x, (H,), *l["ln1"], EPS)
        qkv = F.linear(h, l["attn_w"], l["attn_b"])
        q, k, v = qkv.view(B, T, 3, HEADS, D).permute(2, 0, 3, 1, 4)  # each [B, HEADS, T, D]
        kcache[i][:, :, start:end] = k
        vcache[i][:, :, start:end] = v
        keys, values = kcache[i][:, :, :end], vcache[i][:, :, :end]
        s = torch.matmul(q, keys.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        if causal is not None:
            s = s.masked_fill(causal, float("-inf"))
        a = torch.matmul(torch.softmax(s, dim=-1), values).transpose(1, 2).reshape(B, T, H)
        x = x + F.linear(a, l["proj_w"], l["proj_b"])
        h = F.layer_norm(x, (H,), *l["ln2"], EPS)
        x = x + F.linear(F.gelu(F.linear(h, l["fc_w"], l["fc_b"]), approximate="tanh"), l["out_w"], l["out_b"])
    last = F.layer_norm(x[:, -1], (H,), *ln_f, EPS)
    return F.linear(last, wte)


def run(batch, repeat=REPEAT):
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, VOCAB, (batch, PROMPT), generator=g)
    kc = [torch.zeros(batch, HEADS, PROMPT + DECODE, D) for _ in range(LAYERS)]
    vc = [torch.zeros(batch, HEADS, PROMPT + DECODE, D) for _ in range(LAYERS)]
    with torch.inference_mode():
        prefills = []
        for _ in range(repeat):  # the same cache slots again: each repeat rewrites them
            t0 = time.perf_counter()
            forward(ids, 0, kc, vc)
            prefills.append(time.perf_counter() - t0)
        prefill_s = sorted(prefills)[len(prefills) // 2]
        steps = []
        for d in range(DECODE):
            tok = torch.full((batch, 1), 1 + d, dtype=torch.long)
            s = time.perf_counter()
            forward(tok, PROMPT + d, kc, vc)
            steps.append((time.perf_counter() - s) * 1000)
    steps.sort()
    median = steps[len(steps) // 2]
    return {
        "batch": batch,
        "prefill_tokens_per_s": round(batch * PROMPT / prefill_s, 1),
        "prefill_ms": round(prefill_s * 1000, 1),
        "decode_ms_per_step": round(median, 2),
        "decode_ms_per_token": round(median / batch, 2),
        "decode_tokens_per_s": round(1000 * batch / median, 1),
    }


def blas_library():
    """The BLAS shared object torch actually loaded (Debian's torch links the libblas.so.3 alternative)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "none found"
    except OSError:
        return "unknown"


def measure(batch):
    cold = run(batch, 1)  # warm-up: the first run of each shape
    return {**run(batch), "prefill_cold_ms": cold["prefill_ms"]}


b1 = measure(1)
b8 = measure(8)
print(
    json.dumps(
        {
            "bench": "torch",
            "model": "gpt2-small shape, random fp32 weights, plain torch eager (F.linear, manual attention, KV cache)",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "weight_bytes": weight_bytes,
            "prompt_tokens": PROMPT,
            "decode_steps": DECODE,
            "prefill_repeats": REPEAT,
            "batch1": b1,
            "batch8": b8,
            "blas": blas_library(),
            "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))},
            "python": platform.python_version(),
        }
    )
)
