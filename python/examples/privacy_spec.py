"""An `airlock privacy audit` spec: a small classifier that memorised its
training set (random labels, trained to convergence), audited with both
membership attacks.

    airlock privacy audit python/examples/privacy_spec.py --python VENV

VENV: a virtualenv with torch and airlock-scan. A real spec loads the
published model and samples of its real training and held-out data, and
`train` is the real training recipe (from scratch, on the examples given).
"""

import torch

DIM, CLASSES = 16, 4


def _dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, DIM, generator=g)
    ys = torch.randint(0, CLASSES, (n,), generator=g)
    return [(x, int(y)) for x, y in zip(xs, ys)]


MEMBERS, NONMEMBERS = _dataset(200, 1), _dataset(200, 2)


def train(examples):
    """The training recipe: the reference models are trained with it."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(DIM, 128), torch.nn.ReLU(), torch.nn.Linear(128, CLASSES))
    xs = torch.stack([x for x, _ in examples])
    ys = torch.tensor([y for _, y in examples])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xs), ys).backward()
        opt.step()
    return model.eval()


def model():
    return train(MEMBERS)


def members():
    return MEMBERS


def nonmembers():
    return NONMEMBERS


SETTINGS = {"reference_models": 4, "name": "python/examples/privacy_spec.py"}
