#!/usr/bin/python3
"""PyTorch peer of vkdream's LDM UNet (issue 4, "Performance"): the same network, written
here from the architecture description (../shared/golden/README.md, sds/unet.h), loading
the same .safetensors by the same checkpoint names, to compare correctness and speed.

Benchmark-only tool, not a build dependency. Needs Debian's torch and numpy, plus an
OpenBLAS for torch's BLAS calls (without it Debian's torch uses the reference BLAS and the
comparison is unfair to PyTorch):
    apt-get install python3-torch python3-numpy libopenblas0-openmp
Run with /usr/bin/python3. Commands:
  check CONFIG WEIGHTS IO [C_OUT]   run the io file's inputs, compare out.eps with the
                                    reference (and with vkdream's output file C_OUT)
  init CONFIG SEED WEIGHTS_OUT      random weights for CONFIG (golden README's init)
  inputs CONFIG SIZE L SEED IO_OUT  inputs in.x (2, C, SIZE, SIZE), in.context (2, L, D),
                                    in.timesteps [10, 700]
  time CONFIG WEIGHTS IO [RUNS]     median forward time (2 threads, no_grad)
  profile CONFIG WEIGHTS IO [RUNS]  torch's per-op CPU time over RUNS forwards
Prints which BLAS library torch loaded and OpenBLAS's core.
"""
import ctypes
import json
import math
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16,
          "I32": np.int32}


# ---- safetensors: u64 LE header length, JSON header, raw little-endian data ----------------
def st_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]], count=(b - a) //
                            np.dtype(DTYPES[info["dtype"]]).itemsize, offset=base + a)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def st_write(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().contiguous().numpy()
        code = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- config ---------------------------------------------------------------------------------
class Cfg:
    def __init__(self, path):
        with open(path) as f:
            obj = json.load(f)
        obj = obj.get("unet", obj)
        a = obj["constructor_args"]
        self.cin, self.cout, self.mc = a["in_channels"], a["out_channels"], a["model_channels"]
        self.mult = a.get("channel_mult", [1, 2, 4, 8])
        nrb = a["num_res_blocks"]
        self.nrb = nrb if isinstance(nrb, list) else [nrb] * len(self.mult)
        self.attn = set(a["attention_resolutions"])
        self.heads, self.head_ch = a.get("num_heads", -1), a.get("num_head_channels", -1)
        self.depth = a.get("transformer_depth", 1)
        self.ctx = a["context_dim"]
        self.linear = a.get("use_linear_in_transformer", False)
        self.prefix = obj.get("checkpoint_prefix", "model.diffusion_model.")

    def heads_for(self, ch):
        if self.head_ch == -1:
            return self.heads, ch // self.heads
        return ch // self.head_ch, self.head_ch


# ---- the network: a list of blocks built from the config -------------------------------------
# Each block records the parameter shapes it needs (for `init`) and runs from a name->tensor
# dict; the layout (block indices, ".0"/".1"/".2" sub-modules) follows the checkpoint names.
class UNetPeer(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.shapes = {}
        mc, ted = cfg.mc, 4 * cfg.mc
        self.ted = ted
        self._lin("time_embed.0", mc, ted)
        self._lin("time_embed.2", ted, ted)
        self.inputs = [[("conv", "input_blocks.0.0")]]
        self._conv("input_blocks.0.0", cfg.cin, mc, 3)
        chans, ch, ds, k = [mc], mc, 1, 1
        for lvl, m in enumerate(cfg.mult):
            for _ in range(cfg.nrb[lvl]):
                blk = [("res", self._res(f"input_blocks.{k}.0", ch, m * mc))]
                ch = m * mc
                if ds in cfg.attn:
                    blk.append(("st", self._st(f"input_blocks.{k}.1", ch)))
                self.inputs.append(blk)
                chans.append(ch)
                k += 1
            if lvl != len(cfg.mult) - 1:
                self._conv(f"input_blocks.{k}.0.op", ch, ch, 3)
                self.inputs.append([("down", f"input_blocks.{k}.0.op")])
                chans.append(ch)
                ds *= 2
                k += 1
        self.middle = [("res", self._res("middle_block.0", ch, ch)),
                       ("st", self._st("middle_block.1", ch)),
                       ("res", self._res("middle_block.2", ch, ch))]
        self.outputs, k = [], 0
        for lvl, m in list(enumerate(cfg.mult))[::-1]:
            for i in range(cfg.nrb[lvl] + 1):
                skip = chans.pop()
                blk = [("res", self._res(f"output_blocks.{k}.0", ch + skip, m * mc))]
                ch = m * mc
                if ds in cfg.attn:
                    blk.append(("st", self._st(f"output_blocks.{k}.1", ch)))
                if lvl and i == cfg.nrb[lvl]:
                    name = f"output_blocks.{k}.{len(blk)}.conv"
                    self._conv(name, ch, ch, 3)
                    blk.append(("up", name))
                    ds //= 2
                self.outputs.append(blk)
                k += 1
        self._norm("out.0", ch)
        self._conv("out.2", ch, cfg.cout, 3)
        self.p = {}

    # parameter shapes
    def _lin(self, n, i, o, bias=True):
        self.shapes[n + ".weight"] = (o, i)
        if bias:
            self.shapes[n + ".bias"] = (o,)

    def _conv(self, n, i, o, k):
        self.shapes[n + ".weight"] = (o, i, k, k)
        self.shapes[n + ".bias"] = (o,)

    def _norm(self, n, c):
        self.shapes[n + ".weight"] = (c,)
        self.shapes[n + ".bias"] = (c,)

    def _res(self, n, i, o):
        self._norm(n + ".in_layers.0", i)
        self._conv(n + ".in_layers.2", i, o, 3)
        self._lin(n + ".emb_layers.1", self.ted, o)
        self._norm(n + ".out_layers.0", o)
        self._conv(n + ".out_layers.3", o, o, 3)
        if i != o:
            self._conv(n + ".skip_connection", i, o, 1)
        return n

    def _st(self, n, c):
        self._norm(n + ".norm", c)
        for io in ("proj_in", "proj_out"):
            if self.cfg.linear:
                self._lin(f"{n}.{io}", c, c)
            else:
                self._conv(f"{n}.{io}", c, c, 1)
        for d in range(self.cfg.depth):
            t = f"{n}.transformer_blocks.{d}"
            for j, kv_dim in ((1, c), (2, self.cfg.ctx)):
                self._lin(f"{t}.attn{j}.to_q", c, c, bias=False)
                self._lin(f"{t}.attn{j}.to_k", kv_dim, c, bias=False)
                self._lin(f"{t}.attn{j}.to_v", kv_dim, c, bias=False)
                self._lin(f"{t}.attn{j}.to_out.0", c, c)
            for j in (1, 2, 3):
                self._norm(f"{t}.norm{j}", c)
            self._lin(f"{t}.ff.net.0.proj", c, 8 * c)
            self._lin(f"{t}.ff.net.2", 4 * c, c)
        return n

    def load(self, tensors):
        pre = self.cfg.prefix
        for name, shape in self.shapes.items():
            t = tensors.get(pre + name)
            if t is None:
                raise KeyError(f"weights lack {pre + name}")
            if tuple(t.shape) != tuple(shape):
                raise ValueError(f"{pre + name}: shape {tuple(t.shape)}, expected {shape}")
            self.p[name] = t.float().contiguous()

    # ops
    def lin(self, n, x):
        return F.linear(x, self.p[n + ".weight"], self.p.get(n + ".bias"))

    def conv(self, n, x, stride=1):
        w = self.p[n + ".weight"]
        return F.conv2d(x, w, self.p[n + ".bias"], stride=stride, padding=w.shape[-1] // 2)

    def gn(self, n, x, eps):
        return F.group_norm(x, 32, self.p[n + ".weight"], self.p[n + ".bias"], eps)

    def ln(self, n, x):
        return F.layer_norm(x, x.shape[-1:], self.p[n + ".weight"], self.p[n + ".bias"], 1e-5)

    def res(self, n, x, emb):
        h = self.conv(n + ".in_layers.2", F.silu(self.gn(n + ".in_layers.0", x, 1e-5)))
        h = h + self.lin(n + ".emb_layers.1", F.silu(emb))[:, :, None, None]
        h = self.conv(n + ".out_layers.3", F.silu(self.gn(n + ".out_layers.0", h, 1e-5)))
        skip = n + ".skip_connection"
        return (self.conv(skip, x) if skip + ".weight" in self.p else x) + h

    def attn(self, n, x, ctx, heads, dh):
        B, N, C = x.shape
        q = self.lin(n + ".to_q", x)
        k, v = self.lin(n + ".to_k", ctx), self.lin(n + ".to_v", ctx)
        M = k.shape[1]
        q = q.reshape(B, N, heads, dh).transpose(1, 2).reshape(B * heads, N, dh)
        k = k.reshape(B, M, heads, dh).transpose(1, 2).reshape(B * heads, M, dh)
        v = v.reshape(B, M, heads, dh).transpose(1, 2).reshape(B * heads, M, dh)
        a = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * dh ** -0.5, dim=-1)
        o = torch.bmm(a, v).reshape(B, heads, N, dh).transpose(1, 2).reshape(B, N, C)
        return self.lin(n + ".to_out.0", o)

    def st(self, n, x, ctx):
        B, C, H, W = x.shape
        heads, dh = self.cfg.heads_for(C)
        h = self.gn(n + ".norm", x, 1e-6)
        if self.cfg.linear:
            h = self.lin(n + ".proj_in", h.reshape(B, C, H * W).transpose(1, 2))
        else:
            h = self.conv(n + ".proj_in", h).reshape(B, C, H * W).transpose(1, 2)
        for d in range(self.cfg.depth):
            t = f"{n}.transformer_blocks.{d}"
            u = self.ln(t + ".norm1", h)
            h = h + self.attn(t + ".attn1", u, u, heads, dh)
            h = h + self.attn(t + ".attn2", self.ln(t + ".norm2", h), ctx, heads, dh)
            a, gate = self.lin(t + ".ff.net.0.proj", self.ln(t + ".norm3", h)).chunk(2, dim=-1)
            h = h + self.lin(t + ".ff.net.2", a * F.gelu(gate))
        if self.cfg.linear:
            h = self.lin(n + ".proj_out", h).transpose(1, 2).reshape(B, C, H, W)
        else:
            h = self.conv(n + ".proj_out", h.transpose(1, 2).reshape(B, C, H, W))
        return x + h

    def run_block(self, blk, h, emb, ctx):
        for kind, n in blk:
            if kind == "conv":
                h = self.conv(n, h)
            elif kind == "res":
                h = self.res(n, h, emb)
            elif kind == "st":
                h = self.st(n, h, ctx)
            elif kind == "down":
                h = self.conv(n, h, stride=2)
            else:
                h = self.conv(n, F.interpolate(h, scale_factor=2, mode="nearest"))
        return h

    def forward(self, x, t, ctx):
        half = self.cfg.mc // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        temb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        emb = self.lin("time_embed.2", F.silu(self.lin("time_embed.0", temb)))
        hs, h = [], x
        for blk in self.inputs:
            h = self.run_block(blk, h, emb, ctx)
            hs.append(h)
        h = self.run_block(self.middle, h, emb, ctx)
        for blk in self.outputs:
            h = self.run_block(blk, torch.cat([h, hs.pop()], dim=1), emb, ctx)
        return self.conv("out.2", F.silu(self.gn("out.0", h, 1e-5)))


# ---- commands -----------------------------------------------------------------------------
def blas_report():
    libs = sorted({ln.split()[-1] for ln in open("/proc/self/maps")
                   if "blas" in ln and ".so" in ln})
    core = "?"
    for lib in libs:
        try:
            fn = ctypes.CDLL(lib).openblas_get_corename
            fn.restype = ctypes.c_char_p
            core = fn().decode()
            break
        except (OSError, AttributeError):
            continue
    cfg = torch.__config__.show()
    info = re.findall(r"BLAS_INFO=\w+", cfg)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{info[0] if info else 'BLAS_INFO ?'}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"BLAS libraries loaded: {' '.join(libs) or 'none'}, OpenBLAS core: {core}")


def load_model(config, weights):
    m = UNetPeer(Cfg(config))
    m.load(st_read(weights))
    return m


def inputs_of(io):
    d = st_read(io)
    return d["in.x"].float(), d["in.timesteps"], d["in.context"].float(), d


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def cmd_check(config, weights, io, c_out=None):
    m = load_model(config, weights)
    x, t, ctx, d = inputs_of(io)
    with torch.no_grad():
        eps = m(x, t, ctx)
    ok = True
    if "out.eps" in d:
        e = rel_err(eps, d["out.eps"])
        print(f"peer vs reference out.eps: rel err {e:.3g}")
        ok &= e < 1e-4
    if c_out:
        e = rel_err(eps, st_read(c_out)["out.eps"])
        print(f"peer vs vkdream out.eps: rel err {e:.3g}")
        ok &= e < 1e-4
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def cmd_init(config, seed, out):
    m = UNetPeer(Cfg(config))
    g = torch.Generator().manual_seed(int(seed))
    ts = {}
    for name, shape in m.shapes.items():
        if len(shape) == 1 and (".norm" in name or "_layers.0" in name or name.startswith("out.0")):
            base = 1.0 if name.endswith(".weight") else 0.0
            t = base + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:])
            t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        ts[m.cfg.prefix + name] = t
    st_write(out, ts)
    print(f"{out}: {len(ts)} tensors, {sum(t.numel() for t in ts.values())} parameters")
    return 0


def cmd_inputs(config, size, L, seed, out):
    cfg = Cfg(config)
    g = torch.Generator().manual_seed(int(seed))
    s, L = int(size), int(L)
    st_write(out, {"in.x": torch.randn(2, cfg.cin, s, s, generator=g),
                   "in.context": torch.randn(2, L, cfg.ctx, generator=g),
                   "in.timesteps": torch.tensor([10, 700], dtype=torch.int64)})
    return 0


def cmd_time(config, weights, io, runs="10"):
    torch.set_num_threads(2)
    blas_report()
    m = load_model(config, weights)
    x, t, ctx, _ = inputs_of(io)
    times, cpu = [], []  # wall and process CPU time (all threads) per forward, ms
    with torch.no_grad():
        for r in range(int(runs) + 2):
            t0, c0 = time.perf_counter(), time.process_time()
            m(x, t, ctx)
            if r >= 2:
                times.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
    print(f"peer B={x.shape[0]} H={x.shape[2]} W={x.shape[3]} L={ctx.shape[1]} "
          f"median_ms={float(np.median(times)):.3f} min_ms={min(times):.3f} runs={len(times)} "
          f"cpu_median_ms={float(np.median(cpu)):.3f}")
    return 0


def cmd_profile(config, weights, io, runs="5"):
    torch.set_num_threads(2)
    m = load_model(config, weights)
    x, t, ctx, _ = inputs_of(io)
    with torch.no_grad():
        m(x, t, ctx)
        with torch.autograd.profiler.profile() as prof:
            for _ in range(int(runs)):
                m(x, t, ctx)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return 0


def main(argv):
    cmds = {"check": cmd_check, "init": cmd_init, "inputs": cmd_inputs, "time": cmd_time,
            "profile": cmd_profile}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
