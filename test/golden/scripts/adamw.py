"""Golden values for FlatAdamW: torch.optim.AdamW + torch.nn.utils.clip_grad_norm_.

Run: /usr/bin/python3 test/golden/scripts/adamw.py > test/golden/adamw.json
Two parameters (shapes [2,3] and [4]), 4 steps, per-step learning rates, fixed gradients
g_k = sin(k * (i + 1) * 0.7) * scale_k (i = flat index), max_norm 0.8, weight decay 0.1.
Step 3 has a non-finite gradient and is skipped (torch side: the step is simply not taken).
"""
import json, math
import torch

torch.set_default_dtype(torch.float64)
p0 = [torch.tensor([[0.5, -0.3, 0.8], [0.1, -1.2, 0.4]]), torch.tensor([0.9, -0.7, 0.2, 0.05])]
params = [torch.nn.Parameter(p.clone()) for p in p0]
opt = torch.optim.AdamW(params, lr=1e-2, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)
lrs = [0.01, 0.02, 0.015, 0.005]
scales = [1.0, 3.0, float('nan'), 0.05]
grads_out, states = [], []
for k in range(4):
    n = sum(p.numel() for p in params)
    flat = [math.sin((k + 1) * (i + 1) * 0.7) * scales[k] for i in range(n)]
    grads_out.append([None if math.isnan(x) else x for x in flat])
    if math.isnan(scales[k]):
        states.append([p.detach().reshape(-1).tolist() for p in params])
        continue
    o = 0
    for p in params:
        p.grad = torch.tensor(flat[o:o + p.numel()]).reshape(p.shape)
        o += p.numel()
    norm = torch.nn.utils.clip_grad_norm_(params, 0.8)
    for g in opt.param_groups:
        g['lr'] = lrs[k]
    opt.step()
    states.append([p.detach().reshape(-1).tolist() for p in params])
print(json.dumps({
    'source': 'torch 1.13 torch.optim.AdamW (foreach=False) + clip_grad_norm_(max_norm=0.8); script test/golden/scripts/adamw.py',
    'init': [p.reshape(-1).tolist() for p in p0],
    'shapes': [list(p.shape) for p in p0],
    'config': {'beta1': 0.9, 'beta2': 0.99, 'eps': 1e-6, 'weightDecay': 0.1, 'maxGradNorm': 0.8},
    'lrs': lrs,
    'grads': grads_out,
    'params_after_step': states,
}, indent=1))
