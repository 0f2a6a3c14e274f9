#!/usr/bin/env python3
"""Reference values for prefkit's losses (test/golden/losses-*.json).

Run: /usr/bin/python3 test/golden/scripts/losses-goldens.py   (numpy + torch 1.13, CPU, float64)

Each case re-implements, in PyTorch, the loss block of the official code named in its
"source" field (formulas restated from the files read; see ../shared/research/losses.md),
applied to small random inputs. Inputs are rounded to float32 so prefkit sees exactly the
same numbers; references are computed in float64. Gradients come from torch autograd with
respect to the policy *predictions* (through the per-sample mean squared error), or the
policy log-probabilities for TRL.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
rng = np.random.default_rng(20261127)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def t(a, grad=False):
    return torch.tensor(f32(a), requires_grad=grad)


def lst(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64).tolist()


def mse_per_sample(pred, target):
    # F.mse_loss(pred, target, reduction="none").mean(dim=list(range(1, len(shape))))
    return F.mse_loss(pred, target, reduction="none").mean(dim=list(range(1, pred.dim())))


def make_pair_batch(B=3, shape=(2, 3, 2), spread=0.05, ref_spread=0.05):
    """Targets, reference and policy predictions for chosen and rejected (NHWC, small)."""
    tgt_w = rng.standard_normal((B,) + shape)
    tgt_l = rng.standard_normal((B,) + shape)
    ref_w = tgt_w + ref_spread * rng.standard_normal((B,) + shape) * 2
    ref_l = tgt_l + ref_spread * rng.standard_normal((B,) + shape) * 2
    pol_w = ref_w + spread * rng.standard_normal((B,) + shape)
    pol_l = ref_l + spread * rng.standard_normal((B,) + shape)
    return {k: f32(v) for k, v in dict(targetChosen=tgt_w, targetRejected=tgt_l, refPredChosen=ref_w,
                                        refPredRejected=ref_l, policyPredChosen=pol_w, policyPredRejected=pol_l).items()}


def errors(batch, grad=True):
    pw = t(batch["policyPredChosen"], grad)
    pl = t(batch["policyPredRejected"], grad)
    # Official layout: winners then losers on the batch axis, split with chunk(2).
    model_pred = torch.cat([pw, pl])
    target = torch.cat([t(batch["targetChosen"]), t(batch["targetRejected"])])
    ref_pred = torch.cat([t(batch["refPredChosen"]), t(batch["refPredRejected"])])
    model_losses = mse_per_sample(model_pred, target)
    model_losses_w, model_losses_l = model_losses.chunk(2)
    with torch.no_grad():
        ref_losses = mse_per_sample(ref_pred, target)
        ref_losses_w, ref_losses_l = ref_losses.chunk(2)
    return pw, pl, model_losses_w, model_losses_l, ref_losses_w, ref_losses_l


def grads(loss, pw, pl):
    gw, gl = torch.autograd.grad(loss, [pw, pl], allow_unused=True)
    z = lambda g, p: torch.zeros_like(p) if g is None else g
    return lst(z(gw, pw)), lst(z(gl, pl))


def batch_json(b):
    return {k: lst(v) for k, v in b.items()}


# --- TRL DPOTrainer.dpo_loss (v0.28.0, 49ef3342) / _compute_loss (HEAD f2cd5771), reverse KL ---
def trl_losses(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, loss_type, beta,
               label_smoothing=0.0, discopop_tau=0.05, bco_delta=0.0, chosen_len=None, rejected_len=None):
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    logits = (chosen_logps - rejected_logps) - (ref_chosen_logps - ref_rejected_logps)
    if loss_type == "sigmoid":  # v0.28 (label smoothing = cDPO); HEAD equals it at eps = 0
        return -F.logsigmoid(beta * logits) * (1 - label_smoothing) - F.logsigmoid(-beta * logits) * label_smoothing
    if loss_type == "robust":
        return (-F.logsigmoid(beta * logits) * (1 - label_smoothing) + F.logsigmoid(-beta * logits) * label_smoothing) / (1 - 2 * label_smoothing)
    if loss_type == "exo_pair":  # HEAD form (eps must be > 0)
        eps = torch.tensor(label_smoothing)
        return torch.sigmoid(beta * logits) * (F.logsigmoid(beta * logits) - torch.log1p(-eps)) + torch.sigmoid(-beta * logits) * (F.logsigmoid(-beta * logits) - torch.log(eps))
    if loss_type == "hinge":
        return torch.relu(1 - beta * logits)
    if loss_type == "ipo":  # HEAD: length-averaged scores when lengths are known
        if chosen_len is not None:
            d = chosen_logratios / chosen_len.clamp(min=1.0) - rejected_logratios / rejected_len.clamp(min=1.0)
        else:
            d = logits
        return (d - 1 / (2 * beta)) ** 2
    if loss_type == "bco_pair":  # v0.28 with delta = running mean; HEAD delta = 0
        return -F.logsigmoid(beta * chosen_logratios - bco_delta) - F.logsigmoid(-(beta * rejected_logratios - bco_delta))
    if loss_type == "sppo_hard":
        return (chosen_logratios - 0.5 / beta) ** 2 + (rejected_logratios + 0.5 / beta) ** 2
    if loss_type == "nca_pair":
        cr = chosen_logratios * beta
        rr = rejected_logratios * beta
        return -F.logsigmoid(cr) - 0.5 * F.logsigmoid(-cr) - 0.5 * F.logsigmoid(-rr)
    if loss_type == "apo_zero":
        return (1 - torch.sigmoid(beta * chosen_logratios)) + torch.sigmoid(beta * rejected_logratios)
    if loss_type == "apo_down":
        return torch.sigmoid(beta * chosen_logratios) + (1 - torch.sigmoid(beta * (chosen_logratios - rejected_logratios)))
    if loss_type == "discopop":
        lg = logits * beta
        mod = torch.sigmoid(lg / discopop_tau)
        return -F.logsigmoid(lg) * (1 - mod) + torch.exp(-lg) * mod
    raise ValueError(loss_type)


def acc_half(z):
    return ((z > 0).double().mean() + 0.5 * (z == 0).double().mean()).item()


cases = []

# 1. Diffusion-DPO, Salesforce train.py (8d3ee5c6) / diffusers train_diffusion_dpo_sdxl.py (58eb52c0)
for beta, spread in [(5000, 0.05), (2000, 0.02), (5000, 0.3)]:
    b = make_pair_batch(spread=spread)
    pw, pl, mw, ml, rw, rl = errors(b)
    model_diff = mw - ml
    ref_diff = rw - rl
    scale_term = -0.5 * beta
    inside_term = scale_term * (model_diff - ref_diff)
    loss = -1 * F.logsigmoid(inside_term).mean()
    gw, gl = grads(loss, pw, pl)
    r_w = -0.5 * (mw - rw)
    r_l = -0.5 * (ml - rl)
    cases.append(dict(
        name=f"diffusion-dpo beta={beta} spread={spread}", loss="diffusion-dpo", options=dict(beta=beta), inputs=batch_json(b),
        source="SalesforceAIResearch/DiffusionDPO train.py @8d3ee5c6 'START LOSS COMPUTATION'; huggingface/diffusers examples/research_projects/diffusion_dpo/train_diffusion_dpo_sdxl.py @58eb52c0",
        formula="inside = -0.5*beta*((mw-ml)-(rw-rl)); loss = -logsigmoid(inside).mean()",
        expected=dict(loss=loss.item(), inside=lst(inside_term),
                      metrics={"rewards/chosen": (beta * r_w).mean().item(), "rewards/rejected": (beta * r_l).mean().item(),
                               "rewards/margins": inside_term.mean().item(), "rewards/accuracies": acc_half(inside_term),
                               "loss/policy": (0.5 * (mw.mean() + ml.mean())).item(), "loss/ref": torch.cat([rw, rl]).mean().item()},
                      gradPolicyChosen=gw, gradPolicyRejected=gl)))

# 1b. DCPO (sahsaeedi/DCPO-T2I src/dcpo_trainer.py @62335bb): the Salesforce loss unchanged; the errors
# come from each image under its own caption (conditioning is outside the loss), beta 500 as src/run.sh.
b = make_pair_batch(spread=0.1)
pw, pl, mw, ml, rw, rl = errors(b)
inside_term = -0.5 * 500 * ((mw - ml) - (rw - rl))
loss = -1 * F.logsigmoid(inside_term).mean()
gw, gl = grads(loss, pw, pl)
cases.append(dict(
    name="dcpo beta=500", loss="dcpo", options=dict(beta=500), inputs=batch_json(b),
    source="sahsaeedi/DCPO-T2I src/dcpo_trainer.py @62335bb (Diffusion-DPO loss block; captions c_w, c_l only change the conditioning)",
    formula="inside = -0.5*beta*((mw-ml)-(rw-rl)) with mw = err(eps(x_w, c_w)), ml = err(eps(x_l, c_l)); loss = -logsigmoid(inside).mean()",
    expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl,
                  metrics={"rewards/margins": inside_term.mean().item(), "rewards/accuracies": acc_half(inside_term)})))

# 2. diffusers SD1.5 script (train_diffusion_dpo.py @58eb52c0): logits = ref_diff - model_diff; beta_sd15
for loss_type in ["sigmoid", "hinge"]:
    beta_sd15 = 2500
    b = make_pair_batch(spread=0.01)
    pw, pl, mw, ml, rw, rl = errors(b)
    logits = (rw - rl) - (mw - ml)
    if loss_type == "sigmoid":
        loss = -1 * F.logsigmoid(beta_sd15 * logits).mean()
    else:
        loss = torch.relu(1 - beta_sd15 * logits).mean()
    gw, gl = grads(loss, pw, pl)
    cases.append(dict(
        name=f"diffusers sd15 {loss_type} beta_sd15={beta_sd15}", loss="diffusion-dpo",
        options=dict(betaSd15=beta_sd15, link=loss_type), inputs=batch_json(b),
        source="huggingface/diffusers examples/research_projects/diffusion_dpo/train_diffusion_dpo.py @58eb52c0 'Final loss'",
        formula="logits = ref_diff - model_diff; sigmoid: -logsigmoid(beta_sd15*logits).mean(); hinge: relu(1 - beta_sd15*logits).mean()",
        expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl)))

# 3. Links on the diffusion margin: TRL formulas with logratio r = -0.5*(err_policy - err_ref)
for link, trl_type, eps, beta in [("smoothed", "sigmoid", 0.1, 5000), ("robust", "robust", 0.2, 5000), ("hinge", "hinge", 0.0, 5000), ("ipo", "ipo", 0.0, 500)]:
    b = make_pair_batch(spread=0.03)
    pw, pl, mw, ml, rw, rl = errors(b)
    losses = trl_losses(-0.5 * mw, -0.5 * ml, -0.5 * rw, -0.5 * rl, trl_type, beta, label_smoothing=eps)
    loss = losses.mean()
    gw, gl = grads(loss, pw, pl)
    cases.append(dict(
        name=f"link {link} eps={eps} beta={beta}", loss="diffusion-dpo", options=dict(beta=beta, link=link, labelSmoothing=eps), inputs=batch_json(b),
        source="huggingface/trl trl/trainer/dpo_trainer.py DPOTrainer.dpo_loss @v0.28.0 (49ef3342) with logps := -0.5*err",
        formula=f"TRL loss_type={trl_type} on logits = m = -0.5*((mw-ml)-(rw-rl))",
        expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl)))

# 3b. SFT term: sigmoid + sftWeight * mean(err_policy(chosen))
b = make_pair_batch(spread=0.03)
pw, pl, mw, ml, rw, rl = errors(b)
loss = -F.logsigmoid(-0.5 * 5000 * ((mw - ml) - (rw - rl))).mean() + 0.5 * mw.mean()
gw, gl = grads(loss, pw, pl)
cases.append(dict(name="diffusion-dpo + sft 0.5", loss="diffusion-dpo", options=dict(beta=5000, sftWeight=0.5), inputs=batch_json(b),
                  source="Diffusion-DPO loss (Salesforce train.py) plus the --sft loss (F.mse_loss mean) on the chosen images",
                  formula="loss = -logsigmoid(inside).mean() + 0.5*mw.mean()",
                  expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl)))

# 4. SmPO (JaydenLyh/SmPO train.py @8922d54), p per pair
for scale in [10, 1]:
    b = make_pair_batch(spread=0.03)
    p = f32([0.73, 0.5, 0.2])
    pw, pl, mw, ml, rw, rl = errors(b)
    beta = 2000
    scale_term = -0.5 * beta * (2 * t(p) - 1) * scale
    inside_term = scale_term * ((mw - ml) - (rw - rl))
    loss = -1 * F.logsigmoid(inside_term).mean()
    gw, gl = grads(loss, pw, pl)
    cases.append(dict(name=f"smpo scale={scale}", loss="smpo", options=dict(beta=beta, scale=scale), preference=lst(p), inputs=batch_json(b),
                      source="JaydenLyh/SmPO train.py @8922d54 (scale_term = -0.5 * beta_dpo * (2p - 1) * 10), vectorised over p",
                      formula="inside = -0.5*beta*(2p-1)*scale*((mw-ml)-(rw-rl)); loss = -logsigmoid(inside).mean()",
                      expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl,
                                    metrics={"rewards/accuracies": acc_half(inside_term), "rewards/margins": inside_term.mean().item()})))

# 4b. SmPO soft label (preprocessing: n = (s - min)/(max - min); p = exp(n_w)/(exp(n_w)+exp(n_l)))
s_c = f32([0.25, 0.2, 0.12, 0.28])
s_r = f32([0.2, 0.2, 0.27, 0.115])
mn, mx = 0.11543526500463486, 0.28201571106910706
n_c = (t(s_c) - mn) / (mx - mn)
n_r = (t(s_r) - mn) / (mx - mn)
p_soft = torch.exp(n_c) / (torch.exp(n_c) + torch.exp(n_r))
soft_case = dict(name="softPreference PickScore", scoreChosen=lst(s_c), scoreRejected=lst(s_r), expected=lst(p_soft),
                 source="JaydenLyh/SmPO preprocess_train / ' preprocessing.py' @8922d54",
                 formula="n = (s - 0.11543526500463486)/(0.28201571106910706 - 0.11543526500463486); p = exp(n_c)/(exp(n_c)+exp(n_r))")

# 5. Diffusion-KTO (jacklishufan/diffusion-kto train_kto_sd_v1.5.py @01c2fc36), halo=sigmoid
for lam_d, lam_u, spread, improved in [(1.0, 1.0, 0.02, False), (1.0, 1.5, 0.05, False), (1.0, 1.0, 0.02, True)]:
    b = make_pair_batch(spread=spread)
    if improved:  # policy closer to the targets than the reference on average: kl > 0, the detached path
        for side in ("Chosen", "Rejected"):
            b["policyPred" + side] = f32(b["refPred" + side] + 0.3 * (b["target" + side] - b["refPred" + side]) + 0.01 * rng.standard_normal(b["refPred" + side].shape))
    pw, pl, mw, ml, rw, rl = errors(b)
    beta = 1000
    model_losses = torch.cat([mw, ml])
    ref_loss = torch.cat([rw, rl])
    labels = torch.tensor([1.0] * mw.shape[0] + [0.0] * ml.shape[0])
    g_term = (-model_losses) - (-ref_loss)
    kl = g_term.mean().detach().clamp(min=0).detach()
    g_term = g_term - kl
    label_sgn = 2 * labels - 1
    labels_binary = labels == 1
    label_scale_g = label_sgn * beta * g_term
    h = torch.sigmoid(label_scale_g)
    w_y = lam_d * labels_binary + lam_u * ~labels_binary
    loss = (w_y * (1 - h)).mean()
    gw, gl = grads(loss, pw, pl)
    cases.append(dict(name=f"kto lambda_d={lam_d} lambda_u={lam_u} improved={improved}", loss="kto", options=dict(beta=beta, desirableWeight=lam_d, undesirableWeight=lam_u),
                      inputs=batch_json(b),
                      source="jacklishufan/diffusion-kto train_kto_sd_v1.5.py @01c2fc36 (loss block, --halo sigmoid, --loss kto)",
                      formula="g = ref - model; kl = clamp(mean(g), 0).detach(); u = (2y-1)*beta*(g-kl); loss = mean(w_y*(1-sigmoid(u)))",
                      expected=dict(loss=loss.item(), kl=kl.item(), gradPolicyChosen=gw, gradPolicyRejected=gl)))

# 6. MaPO (mapo-t2i/mapo utils.py::compute_loss @4f2905fc)
for beta_mapo in [0.1, 1.0]:
    b = make_pair_batch(spread=0.05)
    pw, pl, mw, ml, rw, rl = errors(b)
    snr_value, T = 0.5, 1000
    log_odds = (snr_value * mw) / (torch.exp(snr_value * mw) - 1) - (snr_value * ml) / (torch.exp(snr_value * ml) - 1)
    ratio = F.logsigmoid(log_odds * T)
    ratio_losses = beta_mapo * ratio
    loss = mw.mean() - ratio_losses.mean()
    gw, gl = grads(loss, pw, pl)
    cases.append(dict(name=f"mapo beta={beta_mapo}", loss="mapo", options=dict(beta=beta_mapo, snr=snr_value, numTrainTimesteps=T), inputs=batch_json(b),
                      source="mapo-t2i/mapo utils.py compute_loss @4f2905fc",
                      formula="f(e) = s*e/(exp(s*e)-1); log_odds = f(mw)-f(ml); loss = mw.mean() - beta*logsigmoid(T*log_odds).mean()",
                      expected=dict(loss=loss.item(), gradPolicyChosen=gw, gradPolicyRejected=gl,
                                    metrics={"loss/or": (-ratio_losses.mean()).item(), "rewards/chosen": ((snr_value * mw) / (torch.exp(snr_value * mw) - 1)).mean().item()})))

# 7. DenseDPO: no official code; prefkit's convention (research notes 9(d)), as an explicit loop.
dense_cases = []
for labels in [[[1, -1, 0], [0, 1, 1]], [[0, 0, 0], [0, 0, 0]], [[1, 1, 1], [-1, -1, -1]]]:
    B, T, H, W, C, S = 2, 5, 2, 2, 2, 2
    shape = (B, T, H, W, C)
    tgt_a, tgt_b = rng.standard_normal(shape), rng.standard_normal(shape)
    ref_a = tgt_a + 0.1 * rng.standard_normal(shape)
    ref_b = tgt_b + 0.1 * rng.standard_normal(shape)
    pol_a = ref_a + 0.03 * rng.standard_normal(shape)
    pol_b = ref_b + 0.03 * rng.standard_normal(shape)
    arrs = {k: f32(v) for k, v in dict(targetA=tgt_a, targetB=tgt_b, refPredA=ref_a, refPredB=ref_b, policyPredA=pol_a, policyPredB=pol_b).items()}
    pa, pb = t(arrs["policyPredA"], True), t(arrs["policyPredB"], True)
    beta = 5000

    def seg(pred, tgt):
        out = []
        for b_ in range(B):
            row = []
            for s0 in range(0, T, S):
                row.append(((pred[b_, s0:s0 + S] - tgt[b_, s0:s0 + S]) ** 2).mean())
            out.append(torch.stack(row))
        return torch.stack(out)

    ea, eb = seg(pa, t(arrs["targetA"])), seg(pb, t(arrs["targetB"]))
    ra, rb = seg(t(arrs["refPredA"]), t(arrs["targetA"])), seg(t(arrs["refPredB"]), t(arrs["targetB"]))
    total, count, correct = 0.0, 0, 0.0
    for b_ in range(B):
        for f in range(len(labels[0])):
            y = labels[b_][f]
            if y == 0:
                continue
            z = y * (-0.5 * beta * ((ea[b_, f] - eb[b_, f]) - (ra[b_, f] - rb[b_, f])))
            total = total + (-F.logsigmoid(z))
            count += 1
            correct += 1.0 if z.item() > 0 else (0.5 if z.item() == 0 else 0.0)
    loss = total / count if count else (ea.sum() + eb.sum()) * 0.0
    ga, gb = torch.autograd.grad(loss, [pa, pb], allow_unused=True)
    ga = torch.zeros_like(pa) if ga is None else ga
    gb = torch.zeros_like(pb) if gb is None else gb
    dense_cases.append(dict(name=f"dense-dpo labels={labels}", options=dict(beta=beta, segmentFrames=S), labels=labels,
                            inputs={k: lst(v) for k, v in arrs.items()},
                            source="prefkit convention (no official DenseDPO code): research/losses.md 9(d), explicit per-segment loop",
                            formula="z = y*(-0.5*beta*((eA-eB)-(rA-rB))) per segment of S frames (last shorter); loss = sum over y!=0 of -logsigmoid(z) / count",
                            expected=dict(loss=float(loss), segmentErrorsPolicyA=lst(ea), accuracy=(correct / count if count else None),
                                          decisive=count, gradPolicyA=lst(ga), gradPolicyB=lst(gb))))

diffusion = dict(
    generated_by="test/golden/scripts/losses-goldens.py",
    torch=torch.__version__, numpy=np.__version__, dtype="float64 references from float32-rounded inputs",
    note="Per-sample errors are F.mse_loss(reduction='none').mean over non-batch dims; chosen and rejected concatenated and chunk(2) as the official scripts.",
    cases=cases, softPreference=soft_case, dense=dense_cases)
with open(os.path.join(OUT, "losses-diffusion.json"), "w") as fh:
    json.dump(diffusion, fh)

# 8. TRL dpo loss types on sequence log-probs
trl_cases = []
B = 4
for loss_type, eps, beta, extra in [
    ("sigmoid", 0.0, 0.1, {}), ("sigmoid", 0.1, 0.1, {}), ("hinge", 0.0, 0.1, {}), ("ipo", 0.0, 0.1, {}),
    ("ipo", 0.0, 0.1, {"lengths": True}), ("robust", 0.2, 0.1, {}), ("bco_pair", 0.0, 0.1, {}), ("bco_pair", 0.0, 0.1, {"bco_delta": 0.3}),
    ("sppo_hard", 0.0, 0.1, {}), ("nca_pair", 0.0, 0.1, {}), ("apo_zero", 0.0, 0.1, {}), ("apo_down", 0.0, 0.1, {}),
    ("exo_pair", 1e-3, 0.1, {}), ("discopop", 0.0, 0.1, {}), ("sigmoid", 0.0, 0.5, {}),
]:
    pc = f32(-30 + 10 * rng.standard_normal(B))
    pr = f32(-35 + 10 * rng.standard_normal(B))
    rc = f32(pc + 3 * rng.standard_normal(B))
    rr = f32(pr + 3 * rng.standard_normal(B))
    lc = f32(rng.integers(1, 40, B)) if extra.get("lengths") else None
    lr_ = f32(rng.integers(1, 40, B)) if extra.get("lengths") else None
    tpc, tpr = t(pc, True), t(pr, True)
    losses = trl_losses(tpc, tpr, t(rc), t(rr), loss_type, beta, label_smoothing=eps, bco_delta=extra.get("bco_delta", 0.0),
                        chosen_len=None if lc is None else t(lc), rejected_len=None if lr_ is None else t(lr_))
    loss = losses.mean()
    gc, gr = torch.autograd.grad(loss, [tpc, tpr], allow_unused=True)
    gc = torch.zeros_like(tpc) if gc is None else gc
    gr = torch.zeros_like(tpr) if gr is None else gr
    cr = beta * (t(pc) - t(rc))
    rj = beta * (t(pr) - t(rr))
    case = dict(name=f"trl {loss_type} eps={eps} beta={beta} {extra}", lossType=loss_type, options=dict(beta=beta, labelSmoothing=eps, bcoDelta=extra.get("bco_delta", 0.0)),
                inputs=dict(policyChosenLogps=lst(pc), policyRejectedLogps=lst(pr), refChosenLogps=lst(rc), refRejectedLogps=lst(rr)),
                expected=dict(loss=loss.item(), gradPolicyChosenLogps=lst(gc), gradPolicyRejectedLogps=lst(gr),
                              metrics={"rewards/chosen": cr.mean().item(), "rewards/rejected": rj.mean().item(), "rewards/margins": (cr - rj).mean().item(),
                                       "rewards/accuracies": acc_half(cr - rj)}))
    if lc is not None:
        case["lengths"] = dict(chosen=lst(lc), rejected=lst(lr_))
    trl_cases.append(case)

trl = dict(generated_by="test/golden/scripts/losses-goldens.py", torch=torch.__version__,
           source="huggingface/trl trl/trainer/dpo_trainer.py: DPOTrainer.dpo_loss @ v0.28.0 (49ef33428c47235991acb4e185ea599b70c6dab4) and DPOTrainer._compute_loss @ f2cd57710ae345ea6428ae95363267fcf38a3dc8 (ipo length averaging, exo_pair with log1p(-eps)); f_divergence_type reverse_kl",
           note="rewards/accuracies here counts ties 1/2 (prefkit convention); TRL counts them 0 (no ties occur in these inputs).",
           cases=trl_cases)
with open(os.path.join(OUT, "losses-trl.json"), "w") as fh:
    json.dump(trl, fh)
print(f"wrote {len(cases)} diffusion cases, {len(dense_cases)} dense cases, {len(trl_cases)} TRL cases")
