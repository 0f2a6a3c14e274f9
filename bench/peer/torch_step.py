#!/usr/bin/env python3
"""PyTorch peer of `npm run bench:peer`: one Diffusion-DPO training step of the
reference TinyUNet on the CPU, float32.  Adapted from the team's sketch
(../shared/bench-peer/torch_step.py); the model and step follow the spec in
../shared/bench-peer/README.md, with the sizes configurable so a small copy
can be exported as a test fixture.

  python3 bench/peer/torch_step.py --threads 2 --steps 30 --json out.json
  python3 bench/peer/torch_step.py --export out.safetensors [--small]

--export writes one safetensors file (written by hand: the `safetensors`
Python package is not needed) holding, for prefkit's parity test:
  param.<name>   initial policy weights (the reference plus 2 % noise, so the loss is not
                 ln 2), PyTorch layout and state_dict names
  ref.<name>     the frozen reference's weights
  grad.<name>    d loss / d param after one DPO forward/backward, PyTorch layout
  after3.<name>  weights after 3 AdamW steps on the same batch
  batch.x0, batch.noise      [2B, H, W, C] (NHWC, model batch: chosen then rejected)
  batch.cond                 [2B, cond_dim]
  batch.t                    [2B] int64
  expect.pred [2B, H, W, C], expect.mse [2B], expect.ref_mse [2B], expect.loss [1]
and __metadata__.config = the JSON spec (sizes, beta, AdamW settings).

Needs python3-torch (Debian bookworm: 1.13) and numpy.
"""
import argparse
import copy
import json
import math
import os
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FULL = dict(lat_c=4, hw=16, channels=[32, 64], temb=128, sin_dim=32, cond_dim=32, groups=8, B=4)
SMALL = dict(lat_c=4, hw=8, channels=[8, 16], temb=16, sin_dim=8, cond_dim=8, groups=4, B=2)
GN_EPS = 1e-5
T_STEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012  # scaled_linear
BETA_DPO = 5000.0
LR, WD, ADAM_BETAS, ADAM_EPS = 1e-5, 1e-2, (0.9, 0.999), 1e-8


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, S):
        super().__init__()
        self.norm1 = nn.GroupNorm(S['groups'], cin, eps=GN_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(S['temb'], cout)
        self.norm2 = nn.GroupNorm(S['groups'], cout, eps=GN_EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb_act):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class TinyUNet(nn.Module):
    def __init__(self, S):
        super().__init__()
        self.S = S
        c0, c1 = S['channels']
        self.time_mlp1 = nn.Linear(S['sin_dim'], S['temb'])
        self.time_mlp2 = nn.Linear(S['temb'], S['temb'])
        self.cond_proj = nn.Linear(S['cond_dim'], S['temb'])
        self.conv_in = nn.Conv2d(S['lat_c'], c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, S)
        self.downsample = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.down1 = ResBlock(c0, c1, S)
        self.mid = ResBlock(c1, c1, S)
        self.up1 = ResBlock(c1 + c1, c1, S)
        self.upsample_conv = nn.Conv2d(c1, c1, 3, padding=1)
        self.up0 = ResBlock(c1 + c0, c0, S)
        self.norm_out = nn.GroupNorm(S['groups'], c0, eps=GN_EPS)
        self.conv_out = nn.Conv2d(c0, S['lat_c'], 3, padding=1)

    def forward(self, x, t, cond):
        emb = self.time_mlp2(F.silu(self.time_mlp1(timestep_embedding(t, self.S['sin_dim'])))) + self.cond_proj(cond)
        e = F.silu(emb)
        h = self.conv_in(x)
        h0 = self.down0(h, e)
        h1 = self.down1(self.downsample(h0), e)
        h = self.mid(h1, e)
        h = self.up1(torch.cat([h, h1], dim=1), e)
        h = self.upsample_conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up0(torch.cat([h, h0], dim=1), e)
        return self.conv_out(F.silu(self.norm_out(h)))


ACP = torch.cumprod(1.0 - torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T_STEPS, dtype=torch.float32) ** 2, dim=0)


def make_batch(S, gen=None):
    """One DPO batch: B preference pairs, shared noise/timestep/cond per pair (model batch 2B)."""
    B, C, H = S['B'], S['lat_c'], S['hw']
    x_w = torch.randn(B, C, H, H, generator=gen)
    x_l = torch.randn(B, C, H, H, generator=gen)
    cond = torch.randn(B, S['cond_dim'], generator=gen)
    noise = torch.randn(B, C, H, H, generator=gen)
    t = torch.randint(0, T_STEPS, (B,), generator=gen)
    return dict(x0=torch.cat([x_w, x_l]), noise=noise.repeat(2, 1, 1, 1), t=t.repeat(2), cond=cond.repeat(2, 1))


def add_noise(x0, noise, t):
    a = ACP[t].sqrt()[:, None, None, None]
    s = (1.0 - ACP[t]).sqrt()[:, None, None, None]
    return a * x0 + s * noise


def dpo_loss(policy, ref, batch, timing=None):
    noisy = add_noise(batch["x0"], batch["noise"], batch["t"])
    t0 = time.perf_counter()
    with torch.no_grad():
        ref_mse = (ref(noisy, batch["t"], batch["cond"]) - batch["noise"]).pow(2).mean(dim=(1, 2, 3))
        ref_w, ref_l = ref_mse.chunk(2)
    t1 = time.perf_counter()
    pred = policy(noisy, batch["t"], batch["cond"])
    mse = (pred - batch["noise"]).pow(2).mean(dim=(1, 2, 3))
    mw, ml = mse.chunk(2)
    inside = -0.5 * BETA_DPO * ((mw - ml) - (ref_w - ref_l))
    loss = -F.logsigmoid(inside).mean()
    if timing is not None:
        timing["reference_forward"] = t1 - t0
        timing["policy_forward"] = time.perf_counter() - t1
    return loss, dict(pred=pred, mse=mse, ref_mse=ref_mse)


def train_step(policy, ref, opt, batch, timing=None):
    t0 = time.perf_counter()
    loss, aux = dpo_loss(policy, ref, batch, timing)
    t1 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    t3 = time.perf_counter()
    if timing is not None:
        timing["backward"] = t2 - t1
        timing["optimizer"] = t3 - t2
        timing["other"] = (t1 - t0) - timing["reference_forward"] - timing["policy_forward"]
    return loss.item(), aux


def build(S, seed=0):
    torch.manual_seed(seed)
    policy = TinyUNet(S)
    ref = copy.deepcopy(policy).requires_grad_(False).eval()
    opt = torch.optim.AdamW(policy.parameters(), lr=LR, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=WD)
    return policy, ref, opt


def count_flops(model, S):
    """conv/linear FLOPs (2 per MAC) of one forward on the 2B batch; the step is policy fwd +
    weight grads (= fwd) + input grads (= fwd minus the layers fed by data) + reference fwd."""
    total = {"fwd": 0, "no_dgrad": 0}
    no_dgrad = {"conv_in", "time_mlp1", "cond_proj"}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inp, out, name=name):
                k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1] if isinstance(mod, nn.Conv2d) else mod.in_features
                total["fwd"] += 2 * out.numel() * k
                if name in no_dgrad:
                    total["no_dgrad"] += 2 * out.numel() * k
            hooks.append(m.register_forward_hook(hook))
    b = make_batch(S, torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(add_noise(b["x0"], b["noise"], b["t"]), b["t"], b["cond"])
    for h in hooks:
        h.remove()
    fwd = total["fwd"]
    return dict(fwd_flops=fwd, step_flops=3 * fwd + (fwd - total["no_dgrad"]))


# ---------------------------------------------------------------- export
def write_safetensors(path, arrays, metadata):
    """safetensors by hand (https://github.com/huggingface/safetensors, "Format")."""
    dt = {np.dtype('float32'): 'F32', np.dtype('int64'): 'I64'}
    header = {'__metadata__': metadata}
    blobs, off = [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        raw = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dt[a.dtype], 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def nhwc(a):
    return a.detach().permute(0, 2, 3, 1).contiguous().numpy()


def export(path, S):
    torch.set_num_threads(1)
    policy, ref, opt = build(S, seed=0)
    # move the policy off the reference so the loss is not trivially ln 2
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g) * p.abs().mean())
    batch = make_batch(S, torch.Generator().manual_seed(123))
    arrays = {}
    for name, p in policy.named_parameters():
        arrays[f'param.{name}'] = p.detach().numpy().copy()
    for name, p in ref.named_parameters():
        arrays[f'ref.{name}'] = p.detach().numpy().copy()
    arrays['batch.x0'] = nhwc(batch['x0'])
    arrays['batch.noise'] = nhwc(batch['noise'])
    arrays['batch.cond'] = batch['cond'].numpy()
    arrays['batch.t'] = batch['t'].numpy().astype(np.int64)
    loss, aux = dpo_loss(policy, ref, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    arrays['expect.pred'] = nhwc(aux['pred'])
    arrays['expect.mse'] = aux['mse'].detach().numpy()
    arrays['expect.ref_mse'] = aux['ref_mse'].detach().numpy()
    arrays['expect.loss'] = np.array([loss.item()], dtype=np.float32)
    for name, p in policy.named_parameters():
        arrays[f'grad.{name}'] = p.grad.numpy().copy()
    opt.step()
    for _ in range(2):
        l2, _ = dpo_loss(policy, ref, batch)
        opt.zero_grad(set_to_none=True)
        l2.backward()
        opt.step()
    for name, p in policy.named_parameters():
        arrays[f'after3.{name}'] = p.detach().numpy().copy()
    cfg = dict(S, beta_dpo=BETA_DPO, lr=LR, weight_decay=WD, adam_betas=list(ADAM_BETAS), adam_eps=ADAM_EPS,
               gn_eps=GN_EPS, schedule=dict(beta_schedule='scaled_linear', beta_start=BETA_START, beta_end=BETA_END, num_train_timesteps=T_STEPS),
               params=sum(p.numel() for p in policy.parameters()), torch=torch.__version__,
               source='bench/peer/torch_step.py --export%s (seed 0 reference, policy = reference + 2 %% noise (seed 5), batch generator seed 123)' % (' --small' if S == SMALL else ''))
    write_safetensors(path, arrays, {'config': json.dumps(cfg)})
    print(json.dumps(dict(exported=path, bytes=os.path.getsize(path), loss=loss.item(), params=cfg['params'])))


# ---------------------------------------------------------------- timing
def med(xs):
    return statistics.median(xs) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--export", help="write the parity fixture (safetensors) here")
    ap.add_argument("--small", action="store_true", help="the small test-fixture spec instead of the reference one")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    S = dict(SMALL if args.small else FULL)
    if args.export:
        export(args.export, S)
        return
    torch.set_num_threads(args.threads)
    policy, ref, opt = build(S)
    nparams = sum(p.numel() for p in policy.parameters())
    fl = count_flops(policy, S)
    gen = torch.Generator().manual_seed(7)
    fixed = make_batch(S, gen)

    def batch():  # fresh noise and timesteps every step, latents and conditioning fixed
        b = make_batch(S, gen)
        b["x0"], b["cond"] = fixed["x0"], fixed["cond"]
        return b

    for _ in range(args.warmup):
        train_step(policy, ref, opt, batch())
    if args.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                train_step(policy, ref, opt, batch())
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    steps, cpu_steps, losses = [], [], []
    parts = {k: [] for k in ("policy_forward", "backward", "reference_forward", "optimizer", "other")}
    for _ in range(args.steps):
        b = batch()  # batch generation outside the timed step (negligible either way)
        tm = {}
        c0, t0 = time.process_time(), time.perf_counter()
        l, _ = train_step(policy, ref, opt, b, tm)
        steps.append(time.perf_counter() - t0)
        cpu_steps.append(time.process_time() - c0)
        losses.append(l)
        for k in parts:
            parts[k].append(tm[k])
    ms = med(steps)
    out = dict(engine="torch-cpu", torch=torch.__version__, threads=args.threads, B=S['B'], params=nparams, **fl,
               steps=args.steps, ms_step=ms, ms_step_min=min(steps) * 1e3, ms_step_max=max(steps) * 1e3,
               cpu_ms_step=med(cpu_steps),
               parts_ms={k: med(v) for k, v in parts.items()}, gflops_step=fl["step_flops"] / ms / 1e6,
               first_loss=losses[0], last_loss=losses[-1])
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
