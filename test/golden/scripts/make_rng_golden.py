#!/usr/bin/env python3
"""Reference outputs of xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c)
for test/core/random.test.ts, from the state s = [1, 2, 3, 4], and prefkit's documented
mapping of two 32-bit outputs to a 53-bit uniform in [0, 1):
    u = ((a >> 5) * 2**26 + (b >> 6)) / 2**53
Run: /usr/bin/python3 test/golden/scripts/make_rng_golden.py > test/golden/rng-xoshiro128.json
"""
import json

M = 0xFFFFFFFF


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M


def nxt(s):
    result = (rotl((s[1] * 5) & M, 7) * 9) & M
    t = (s[1] << 9) & M
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 11)
    return result


s = [1, 2, 3, 4]
u32 = [nxt(s) for _ in range(8)]
s = [1, 2, 3, 4]
uniform = []
for _ in range(4):
    a, b = nxt(s), nxt(s)
    uniform.append(((a >> 5) * 2 ** 26 + (b >> 6)) / 2 ** 53)
print(json.dumps({
    'source': 'test/golden/scripts/make_rng_golden.py; algorithm: https://prng.di.unimi.it/xoshiro128starstar.c',
    'state': [1, 2, 3, 4],
    'u32': u32,
    'uniform': uniform,
    'state_after_8': s,
}, indent=1))
