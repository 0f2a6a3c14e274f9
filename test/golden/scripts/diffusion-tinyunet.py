#!/usr/bin/env python3
"""PyTorch reference for TinyUNet parity (prefkit issue 3).

The model is the reference spec of ../shared/bench-peer/README.md ("Model spec"), written
here in PyTorch as in that folder's torch_step.py (NCHW).  Weights are not random: every
parameter (state_dict order, index p, PyTorch layout, flat index j) is
  GroupNorm weight: 1 + 0.1 sin(0.37 j + p)      GroupNorm bias: 0.1 cos(0.53 j + p)
  other weight/bias: sin(0.7 j + 1.3 p + 0.1) / sqrt(fan_in of the module's weight)
so the TypeScript test rebuilds them without storing 416,676 numbers.  Inputs come from
numpy's default_rng(7).  Outputs: the prediction (NHWC), and for loss = sum(pred * R) the
L2 norm and first 6 values (PyTorch layout) of every parameter gradient.

Run: /usr/bin/python3 test/golden/scripts/diffusion-tinyunet.py > test/golden/diffusion-tinyunet.json
torch 1.13.1 (CPU), float32.
"""
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LAT_C, CH, TEMB, SIN_DIM, COND_DIM, GROUPS, EPS = 4, (32, 64), 128, 32, 32, 8, 1e-5


def timestep_embedding(t, dim=SIN_DIM):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, cin, eps=EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(TEMB, cout)
        self.norm2 = nn.GroupNorm(GROUPS, cout, eps=EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        c0, c1 = CH
        self.time_mlp1 = nn.Linear(SIN_DIM, TEMB)
        self.time_mlp2 = nn.Linear(TEMB, TEMB)
        self.cond_proj = nn.Linear(COND_DIM, TEMB)
        self.conv_in = nn.Conv2d(LAT_C, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0)
        self.downsample = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.down1 = ResBlock(c0, c1)
        self.mid = ResBlock(c1, c1)
        self.up1 = ResBlock(c1 + c1, c1)
        self.upsample_conv = nn.Conv2d(c1, c1, 3, padding=1)
        self.up0 = ResBlock(c1 + c0, c0)
        self.norm_out = nn.GroupNorm(GROUPS, c0, eps=EPS)
        self.conv_out = nn.Conv2d(c0, LAT_C, 3, padding=1)

    def forward(self, x, t, cond):
        emb = self.time_mlp2(F.silu(self.time_mlp1(timestep_embedding(t)))) + self.cond_proj(cond)
        e = F.silu(emb)
        h = self.conv_in(x)
        h0 = self.down0(h, e)
        h1 = self.down1(self.downsample(h0), e)
        h = self.mid(h1, e)
        h = self.up1(torch.cat([h, h1], dim=1), e)
        h = self.upsample_conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up0(torch.cat([h, h0], dim=1), e)
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    torch.set_num_threads(1)
    model = TinyUNet()
    modules = dict(model.named_modules())
    with torch.no_grad():
        for p_idx, (name, p) in enumerate(model.state_dict(keep_vars=True).items()):
            mod = modules[name.rsplit(".", 1)[0]]
            j = np.arange(p.numel(), dtype=np.float64)
            if isinstance(mod, nn.GroupNorm):
                v = 1 + 0.1 * np.sin(0.37 * j + p_idx) if name.endswith("weight") else 0.1 * np.cos(0.53 * j + p_idx)
            else:
                w = mod.weight
                fan_in = w.numel() // w.shape[0]
                v = np.sin(0.7 * j + 1.3 * p_idx + 0.1) / math.sqrt(fan_in)
            p.copy_(torch.from_numpy(v.astype(np.float32)).reshape(p.shape))
    n_params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 16, 16, LAT_C)).astype(np.float32)  # NHWC
    t = np.array([3, 777], dtype=np.float32)
    cond = rng.standard_normal((2, COND_DIM)).astype(np.float32)
    r = rng.standard_normal((2, 16, 16, LAT_C)).astype(np.float32)  # NHWC
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    pred = model(xt, torch.from_numpy(t), torch.from_numpy(cond))
    loss = (pred * torch.from_numpy(r).permute(0, 3, 1, 2)).sum()
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad.detach().double().reshape(-1)
        grads[name] = {"norm": float(g.norm()), "first": [float(v) for v in g[:6]], "shape": list(p.shape)}
    out = {
        "source": {"spec": "../shared/bench-peer/README.md (Model spec)", "script": "test/golden/scripts/diffusion-tinyunet.py",
                   "framework": f"torch {torch.__version__} CPU float32"},
        "n_params": n_params,
        "names": list(model.state_dict().keys()),
        "x_nhwc": [float(v) for v in x.reshape(-1)], "t": t.tolist(), "cond": [float(v) for v in cond.reshape(-1)],
        "r_nhwc": [float(v) for v in r.reshape(-1)],
        "pred_nhwc": [float(v) for v in pred.detach().permute(0, 2, 3, 1).reshape(-1)],
        "loss": float(loss), "grads": grads,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
