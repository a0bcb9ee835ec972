"""A small sampling call for valgrind memcheck (see the README's developer notes)."""

import scorelab as sl

gm = sl.GaussianMixture(
    [0.3, 0.7],
    [[-1.0, 0.0], [1.0, 0.5]],
    [[[0.5, 0.1], [0.1, 0.3]], [[0.2, 0.0], [0.0, 0.4]]],
)
p = sl.VP()
g = sl.grid("uniform", 20, process=p)
x = sl.sample(gm, p, "ei-sde", g, 500, seed=0, threads=2)
print(x.mean(0), gm.score(x[:10]).shape)
