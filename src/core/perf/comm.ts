/**
 * Collectives by an α–β model over the link they cross: a ring all-reduce of M bytes over p devices takes
 * 2(p−1) steps of α plus 2(p−1)/p · M / bandwidth; all-to-all (p−1) α plus (p−1)/p · M / bandwidth; a
 * point-to-point send α + M / bandwidth. Bandwidth is per device, per direction.
 */
export interface Link {
  name: string;
  bandwidthBytesPerS: number;
  latencyS: number;
}

/**
 * All-reduce as the engines run it: the fastest of NCCL's ring (2(p−1) latency steps, 2(p−1)/p of the bytes per
 * device), NCCL's tree (2·log2(p) latency steps, twice the bytes) and the one-shot custom all-reduce of vLLM,
 * SGLang and TensorRT-LLM inside an NVLink domain (each device reads the p−1 peers' buffers: 2 latency steps —
 * write, barrier — and (p−1)·M bytes), which wins for the small messages of decode steps.
 * `alpha` scales the per-step latency (0 for the ideal bound).
 */
export function allReduceS(bytes: number, p: number, link: Link, eff = 1, alpha = 1): number {
  if (p <= 1 || bytes <= 0) return 0;
  const bw = link.bandwidthBytesPerS * eff;
  const ring = 2 * (p - 1) * link.latencyS * alpha + ((2 * (p - 1)) / p) * (bytes / bw);
  const tree = 2 * Math.ceil(Math.log2(p)) * link.latencyS * alpha + (2 * bytes) / bw;
  const oneShot = 2 * link.latencyS * alpha + ((p - 1) * bytes) / bw;
  return Math.min(ring, tree, oneShot);
}

export function allGatherS(bytes: number, p: number, link: Link, eff = 1, alpha = 1): number {
  if (p <= 1 || bytes <= 0) return 0;
  return (p - 1) * link.latencyS * alpha + ((p - 1) / p) * (bytes / (link.bandwidthBytesPerS * eff));
}

export const reduceScatterS = allGatherS;

export function allToAllS(bytes: number, p: number, link: Link, eff = 1, alpha = 1): number {
  if (p <= 1 || bytes <= 0) return 0;
  return (p - 1) * link.latencyS * alpha + ((p - 1) / p) * (bytes / (link.bandwidthBytesPerS * eff));
}

export function p2pS(bytes: number, link: Link, eff = 1, alpha = 1): number {
  if (bytes <= 0) return 0;
  return link.latencyS * alpha + bytes / (link.bandwidthBytesPerS * eff);
}

/** The links a collective may cross: one kind inside a node of `devicesPerNode`, another (or none) across nodes. */
export interface NodeLinks {
  intra: Link;
  inter: Link | null;
  devicesPerNode: number;
}

/**
 * The experts' dispatch (or combine) over p devices, one way: each device holds `bytes` of tokens, each sent to its
 * top-k experts. Inside a node every copy for another device crosses NVLink: (p − 1)/p of the top-k copies, with
 * a latency step per peer as in allToAllS. Across N nodes of n, a token crosses the NICs once per other node that
 * holds one of its experts, (N − 1) · (1 − (1 − 1/N)^k) times on average, and is fanned out inside that node
 * (node-level forwarding, as DeepEP's internode kernels do), one message per node in flight at once: two
 * latency steps (send, signal). The NVLink share, the copies for the other n − 1 devices of the node, runs
 * alongside.
 */
export function expertAllToAllS(
  bytes: number,
  topK: number,
  p: number,
  links: NodeLinks,
  eff = 1,
  alpha = 1,
): number {
  if (p <= 1 || bytes <= 0) return 0;
  const n = links.devicesPerNode;
  const intra = links.intra;
  const local = (share: number) =>
    (Math.min(p, n) - 1) * intra.latencyS * alpha + (share * bytes * topK) / (intra.bandwidthBytesPerS * eff);
  if (p <= n || !links.inter) return local((p - 1) / p);
  const inter = links.inter;
  const nodes = p / n;
  const remoteCopies = (nodes - 1) * (1 - Math.pow(1 - 1 / nodes, topK));
  const remote = 2 * inter.latencyS * alpha + (bytes * remoteCopies) / (inter.bandwidthBytesPerS * eff);
  return Math.max(remote, local((n - 1) / p));
}
