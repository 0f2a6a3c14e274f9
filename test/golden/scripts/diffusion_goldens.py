#!/usr/bin/env python3
"""Golden values for src/diffusion schedules and samplers (prefkit issue 3).

diffusers is not installed here, so this script re-implements, in float64 numpy,
the formulas of diffusers' schedulers as read from:

  repo   huggingface/diffusers
  commit 58eb52c0803ea9af3abec60841c2a093bdf1f951 (2026-08-23)
  files  src/diffusers/schedulers/scheduling_ddim.py  (betas_for_alpha_bar, rescale_zero_terminal_snr,
                                                       DDIMScheduler.__init__/set_timesteps/_get_variance/step,
                                                       add_noise, get_velocity)
         src/diffusers/schedulers/scheduling_ddpm.py  (DDPMScheduler.set_timesteps/previous_timestep/
                                                       _get_variance/step)
         tests/schedulers/test_schedulers.py          (dummy_sample_deter, dummy_model x*t/(t+1))
         tests/schedulers/test_scheduler_ddim.py      (full_loop: 10 steps, eta 0)

Differences from diffusers: everything is float64 (diffusers builds betas in float32), and
thresholding (dynamic) is not covered.  Samples are stored flattened in NHWC order.

Run:  /usr/bin/python3 test/golden/scripts/diffusion_goldens.py > test/golden/diffusion-schedules.json
"""
import json
import math

import numpy as np

SOURCE = {
    "repo": "huggingface/diffusers",
    "commit": "58eb52c0803ea9af3abec60841c2a093bdf1f951",
    "files": [
        "src/diffusers/schedulers/scheduling_ddim.py",
        "src/diffusers/schedulers/scheduling_ddpm.py",
        "tests/schedulers/test_schedulers.py",
        "tests/schedulers/test_scheduler_ddim.py",
    ],
    "script": "test/golden/scripts/diffusion_goldens.py",
    "dtype": "float64 (diffusers uses float32 betas)",
    "layout": "tensors flattened in NHWC order",
}

DEFAULTS = dict(
    num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", trained_betas=None,
    clip_sample=True, clip_sample_range=1.0, set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon",
    timestep_spacing="leading", rescale_betas_zero_snr=False, variance_type="fixed_small",
)


def betas_for_alpha_bar(n, max_beta=0.999):
    def alpha_bar_fn(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = []
    for i in range(n):
        t1 = i / n
        t2 = (i + 1) / n
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), max_beta))
    return np.array(betas, dtype=np.float64)


def rescale_zero_terminal_snr(betas):
    alphas = 1.0 - betas
    alphas_cumprod = np.cumprod(alphas)
    alphas_bar_sqrt = np.sqrt(alphas_cumprod)
    a0 = alphas_bar_sqrt[0].copy()
    aT = alphas_bar_sqrt[-1].copy()
    alphas_bar_sqrt = alphas_bar_sqrt - aT
    alphas_bar_sqrt = alphas_bar_sqrt * (a0 / (a0 - aT))
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = np.concatenate([alphas_bar[0:1], alphas])
    return 1 - alphas


class Sched:
    def __init__(self, **kw):
        c = dict(DEFAULTS)
        c.update(kw)
        self.c = c
        T = c["num_train_timesteps"]
        if c["trained_betas"] is not None:
            betas = np.array(c["trained_betas"], dtype=np.float64)
        elif c["beta_schedule"] == "linear":
            betas = np.linspace(c["beta_start"], c["beta_end"], T, dtype=np.float64)
        elif c["beta_schedule"] == "scaled_linear":
            betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, T, dtype=np.float64) ** 2
        elif c["beta_schedule"] == "squaredcos_cap_v2":
            betas = betas_for_alpha_bar(T)
        else:
            raise ValueError(c["beta_schedule"])
        if c["rescale_betas_zero_snr"]:
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas
        self.alphas_cumprod = np.cumprod(1.0 - betas)
        self.final_alpha_cumprod = 1.0 if c["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.num_inference_steps = None
        self.timesteps = None

    # scheduling_ddim.py / scheduling_ddpm.py set_timesteps (identical for both)
    def set_timesteps(self, n):
        c = self.c
        T = c["num_train_timesteps"]
        self.num_inference_steps = n
        if c["timestep_spacing"] == "linspace":
            ts = np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
        elif c["timestep_spacing"] == "leading":
            step_ratio = T // n
            ts = (np.arange(0, n) * step_ratio).round()[::-1].copy().astype(np.int64)
            ts += c["steps_offset"]
        elif c["timestep_spacing"] == "trailing":
            step_ratio = T / n
            ts = np.round(np.arange(T, 0, -step_ratio)).astype(np.int64)
            ts -= 1
        else:
            raise ValueError(c["timestep_spacing"])
        self.timesteps = ts
        return ts

    def add_noise(self, x0, noise, t):
        a = np.sqrt(self.alphas_cumprod[t]).reshape(-1, *([1] * (x0.ndim - 1)))
        s = np.sqrt(1 - self.alphas_cumprod[t]).reshape(-1, *([1] * (x0.ndim - 1)))
        return a * x0 + s * noise

    def velocity(self, x0, noise, t):
        a = np.sqrt(self.alphas_cumprod[t]).reshape(-1, *([1] * (x0.ndim - 1)))
        s = np.sqrt(1 - self.alphas_cumprod[t]).reshape(-1, *([1] * (x0.ndim - 1)))
        return a * noise - s * x0

    # scheduling_ddim.py DDIMScheduler.step
    def ddim_step(self, model_output, timestep, sample, eta=0.0, variance_noise=None):
        c = self.c
        prev_timestep = timestep - c["num_train_timesteps"] // self.num_inference_steps
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        beta_prod_t = 1 - alpha_prod_t
        pt = c["prediction_type"]
        if pt == "epsilon":
            x0 = (sample - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5
            eps = model_output
        elif pt == "sample":
            x0 = model_output
            eps = (sample - alpha_prod_t ** 0.5 * x0) / beta_prod_t ** 0.5
        elif pt == "v_prediction":
            x0 = (alpha_prod_t ** 0.5) * sample - (beta_prod_t ** 0.5) * model_output
            eps = (alpha_prod_t ** 0.5) * model_output + (beta_prod_t ** 0.5) * sample
        else:
            raise ValueError(pt)
        if c["clip_sample"]:
            x0 = np.clip(x0, -c["clip_sample_range"], c["clip_sample_range"])
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)
        std_dev_t = eta * variance ** 0.5
        direction = (1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5 * eps
        prev = alpha_prod_t_prev ** 0.5 * x0 + direction
        if eta > 0:
            prev = prev + variance ** 0.5 * eta * variance_noise
        return prev, x0

    # scheduling_ddpm.py previous_timestep
    def previous_timestep(self, t):
        if self.num_inference_steps:
            idx = int(np.nonzero(self.timesteps == t)[0][0])
            return -1 if idx == len(self.timesteps) - 1 else int(self.timesteps[idx + 1])
        return t - 1

    # scheduling_ddpm.py DDPMScheduler.step (+ _get_variance, fixed_small / fixed_large)
    def ddpm_step(self, model_output, t, sample, variance_noise):
        c = self.c
        prev_t = self.previous_timestep(t)
        alpha_prod_t = self.alphas_cumprod[t]
        alpha_prod_t_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else 1.0
        beta_prod_t = 1 - alpha_prod_t
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        current_alpha_t = alpha_prod_t / alpha_prod_t_prev
        current_beta_t = 1 - current_alpha_t
        pt = c["prediction_type"]
        if pt == "epsilon":
            x0 = (sample - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5
        elif pt == "sample":
            x0 = model_output
        elif pt == "v_prediction":
            x0 = (alpha_prod_t ** 0.5) * sample - (beta_prod_t ** 0.5) * model_output
        else:
            raise ValueError(pt)
        if c["clip_sample"]:
            x0 = np.clip(x0, -c["clip_sample_range"], c["clip_sample_range"])
        x0_coeff = (alpha_prod_t_prev ** 0.5 * current_beta_t) / beta_prod_t
        cur_coeff = current_alpha_t ** 0.5 * beta_prod_t_prev / beta_prod_t
        prev = x0_coeff * x0 + cur_coeff * sample
        if t > 0:
            var = (1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t
            var = max(var, 1e-20)
            if c["variance_type"] == "fixed_small":
                pass
            elif c["variance_type"] == "fixed_large":
                var = current_beta_t
            else:
                raise ValueError(c["variance_type"])
            prev = prev + var ** 0.5 * variance_noise
        return prev, x0


def fl(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]


def nhwc(a):  # NCHW -> NHWC flattened
    return fl(np.transpose(a, (0, 2, 3, 1)))


def dummy_sample_deter():
    b, ch, h, w = 4, 3, 8, 8
    n = b * ch * h * w
    s = np.arange(n, dtype=np.float64).reshape(ch, h, w, b) / n
    return np.transpose(s, (3, 0, 1, 2))  # NCHW


def dummy_model(sample, t):
    return sample * t / (t + 1)


def main():
    out = {"source": SOURCE}
    rng = np.random.default_rng(20261127)

    # 1. alphas_cumprod for every beta schedule, with and without zero-SNR rescaling
    configs = {
        "linear": dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
        "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
        "squaredcos_cap_v2": dict(beta_schedule="squaredcos_cap_v2"),
    }
    acp = []
    for name, cfg in configs.items():
        for rescale in (False, True):
            s = Sched(num_train_timesteps=1000, rescale_betas_zero_snr=rescale, **cfg)
            acp.append({"config": dict(cfg, num_train_timesteps=1000, rescale_betas_zero_snr=rescale),
                        "alphas_cumprod": fl(s.alphas_cumprod)})
    tb = [0.01, 0.02, 0.05, 0.1, 0.2]
    s = Sched(num_train_timesteps=5, trained_betas=tb)
    acp.append({"config": dict(num_train_timesteps=5, trained_betas=tb), "alphas_cumprod": fl(s.alphas_cumprod)})
    out["alphas_cumprod"] = acp

    # 2. timesteps for every spacing
    ts = []
    for spacing in ("leading", "trailing", "linspace"):
        for T, n, off in ((1000, 10, 0), (1000, 7, 0), (1000, 50, 1), (1000, 3, 1), (100, 30, 0), (1000, 1000, 0)):
            s = Sched(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=off)
            ts.append({"config": dict(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=off),
                       "num_inference_steps": n, "timesteps": [int(v) for v in s.set_timesteps(n)]})
    out["timesteps"] = ts

    # 3. add_noise and velocity (scaled_linear, one t per sample)
    shape = (3, 2, 2, 2)  # NCHW
    x0 = rng.standard_normal(shape)
    noise = rng.standard_normal(shape)
    t = np.array([0, 500, 999])
    nz = []
    for name, cfg in configs.items():
        s = Sched(**cfg)
        nz.append({"config": cfg, "t": t.tolist(), "noisy": nhwc(s.add_noise(x0, noise, t)),
                   "velocity": nhwc(s.velocity(x0, noise, t))})
    out["noising"] = {"shape_nhwc": [3, 2, 2, 2], "x0": nhwc(x0), "noise": nhwc(noise), "cases": nz}

    # 4. one DDIM step per prediction type, eta, spacing and flags
    sample = rng.standard_normal(shape)
    model_output = rng.standard_normal(shape)
    var_noise = rng.standard_normal(shape)
    ddim = []
    flag_sets = [
        dict(),
        dict(clip_sample=False),
        dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
             set_alpha_to_one=False, steps_offset=1),
        dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
             timestep_spacing="trailing", rescale_betas_zero_snr=True),
        dict(beta_schedule="squaredcos_cap_v2", timestep_spacing="linspace", clip_sample=True, clip_sample_range=0.5),
    ]
    for flags in flag_sets:
        for pt in ("epsilon", "v_prediction", "sample"):
            for eta in (0.0, 0.7):
                cfg = dict(flags, prediction_type=pt)
                s = Sched(**cfg)
                s.set_timesteps(10)
                for ti in (0, 9):  # first step and last step
                    tt = int(s.timesteps[ti])
                    if cfg.get("rescale_betas_zero_snr") and ti == 0 and pt == "epsilon":
                        continue  # alpha_prod_t = 0 at t = 999: division by zero in diffusers too
                    prev, x0p = s.ddim_step(model_output, tt, sample, eta=eta, variance_noise=var_noise)
                    ddim.append({"config": cfg, "num_inference_steps": 10, "t": tt, "eta": eta,
                                 "prev_sample": nhwc(prev), "pred_original_sample": nhwc(x0p)})
    out["ddim_step"] = {"sample": nhwc(sample), "model_output": nhwc(model_output), "noise": nhwc(var_noise),
                        "shape_nhwc": [3, 2, 2, 2], "cases": ddim}

    # 5. DDPM steps
    ddpm = []
    for flags in (dict(), dict(clip_sample=False, variance_type="fixed_large"),
                  dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                       timestep_spacing="trailing")):
        for pt in ("epsilon", "v_prediction", "sample"):
            cfg = dict(flags, prediction_type=pt)
            for n in (None, 10):
                s = Sched(**cfg)
                if n is not None:
                    s.set_timesteps(n)
                    tlist = [int(s.timesteps[0]), int(s.timesteps[4]), int(s.timesteps[-1])]
                else:
                    tlist = [999, 500, 0]
                for tt in tlist:
                    prev, x0p = s.ddpm_step(model_output, tt, sample, var_noise)
                    ddpm.append({"config": cfg, "num_inference_steps": n, "t": tt,
                                 "prev_sample": nhwc(prev), "pred_original_sample": nhwc(x0p)})
    out["ddpm_step"] = {"sample": nhwc(sample), "model_output": nhwc(model_output), "noise": nhwc(var_noise),
                        "shape_nhwc": [3, 2, 2, 2], "cases": ddpm}

    # 6. full 10-step DDIM loops (test_scheduler_ddim.py full_loop)
    base = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=True)
    loops = []
    for extra in (dict(), dict(prediction_type="v_prediction"), dict(set_alpha_to_one=True, beta_start=0.01),
                  dict(set_alpha_to_one=False, beta_start=0.01),
                  dict(timestep_spacing="trailing", rescale_betas_zero_snr=True, prediction_type="v_prediction",
                       clip_sample=False)):
        cfg = dict(base, **extra)
        s = Sched(**cfg)
        s.set_timesteps(10)
        x = dummy_sample_deter()
        for tt in s.timesteps:
            x, _ = s.ddim_step(dummy_model(x, float(tt)), int(tt), x, eta=0.0)
        loops.append({"config": cfg, "num_inference_steps": 10, "timesteps": [int(v) for v in s.timesteps],
                      "result_sum_abs": float(np.abs(x).sum()), "result_mean_abs": float(np.abs(x).mean()),
                      "final_sample": nhwc(x)})
    out["ddim_full_loop"] = {"initial_sample": nhwc(dummy_sample_deter()), "shape_nhwc": [4, 8, 8, 3],
                             "model": "x * t / (t + 1)", "cases": loops}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
