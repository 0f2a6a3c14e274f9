"""Golden values for src/vlm/agreement.ts: Cohen's kappa and accuracy on random 3-category labels.

Independent of the TypeScript code: numpy's confusion matrix via np.add.at and the textbook
definition kappa = (p_o - p_e) / (1 - p_e) with p_e = sum_k (row_k / n) * (col_k / n)
(Cohen 1960). Categories: 0 = first, 1 = second, 2 = tie. Run: python3 test/golden/scripts/cohen-kappa.py
"""
import json
import numpy as np

rng = np.random.default_rng(20261127)
cases = []
for n, p_agree in [(50, 0.8), (200, 0.5), (37, 0.95)]:
    human = rng.integers(0, 3, size=n)
    noise = rng.integers(0, 3, size=n)
    pred = np.where(rng.random(n) < p_agree, human, noise)
    cm = np.zeros((3, 3), dtype=np.int64)
    np.add.at(cm, (pred, human), 1)
    po = np.trace(cm) / n
    pe = float(np.sum(cm.sum(axis=1) / n * (cm.sum(axis=0) / n)))
    kappa = (po - pe) / (1 - pe)
    cases.append({"predicted": pred.tolist(), "human": human.tolist(), "accuracy": float(po), "kappa": float(kappa), "confusion": cm.tolist()})

out = {
    "source": "test/golden/scripts/cohen-kappa.py (numpy " + np.__version__ + "), formula: Cohen (1960) kappa = (p_o - p_e)/(1 - p_e)",
    "categories": ["first", "second", "tie"],
    "cases": cases,
}
with open("test/golden/cohen-kappa.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote test/golden/cohen-kappa.json")
