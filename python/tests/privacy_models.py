"""Tiny models for the memorisation audit's tests (python/tests/test_privacy.py)
and its evaluation (scripts/eval_privacy.py): classifiers overfit on random
labels or trained with DP-SGD (Opacus), and a character language model.
Importable without pytest: the ``airlock privacy audit`` test's spec
imports them inside the sandbox."""

import random

import torch

# One thread: the suite runs beside the fuzzers, and torch's spinning worker
# threads on a busy core make these small models many times slower.
torch.set_num_threads(1)

DIM, CLASSES = 16, 4


def dataset(n, seed):
    """Random inputs with random labels: nothing to learn but the examples."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, DIM, generator=g)
    ys = torch.randint(0, CLASSES, (n,), generator=g)
    return [(x, int(y)) for x, y in zip(xs, ys)]


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(DIM, 128), torch.nn.ReLU(), torch.nn.Linear(128, CLASSES))


def train_overfit(examples, epochs=300, seed=0):
    torch.manual_seed(seed)
    model = mlp()
    xs = torch.stack([x for x, _ in examples])
    ys = torch.tensor([y for _, y in examples])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xs), ys).backward()
        opt.step()
    return model.eval()


def train_dp(examples, seed=0):
    """DP-SGD with Opacus: clipped per-example gradients and noise."""
    from opacus import PrivacyEngine

    torch.manual_seed(seed)
    model = mlp()
    xs = torch.stack([x for x, _ in examples])
    ys = torch.tensor([y for _, y in examples])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys), batch_size=32)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    engine = PrivacyEngine()
    model, opt, loader = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                                             noise_multiplier=2.0, max_grad_norm=1.0)
    for _ in range(5):
        for x, y in loader:
            if len(x) == 0:
                continue
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return model._module.eval()


# ---------------------------------------------------------------- a character language model

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 "
BOS = len(CHARS)


def encode(text):
    return [CHARS.index(c) for c in text]


class CharLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(len(CHARS) + 1, 32)
        self.rnn = torch.nn.GRU(32, 128, batch_first=True)
        self.out = torch.nn.Linear(128, len(CHARS))

    def forward(self, ids):
        h, _ = self.rnn(self.emb(ids))
        return self.out(h)


def batch(texts):
    """Inputs (BOS + text) and targets (text), padded with -100 targets."""
    n = max(len(t) for t in texts)
    x = torch.full((len(texts), n), BOS, dtype=torch.long)
    y = torch.full((len(texts), n), -100, dtype=torch.long)
    for i, t in enumerate(texts):
        ids = encode(t)
        x[i, 1 : len(ids)] = torch.tensor(ids[:-1])
        y[i, : len(ids)] = torch.tensor(ids)
    return x, y


def train_lm(texts, steps=600, seed=0):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = CharLM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        x, y = batch(rng.sample(texts, 32))
        opt.zero_grad()
        logits = model(x)
        torch.nn.functional.cross_entropy(logits.reshape(-1, len(CHARS)), y.reshape(-1)).backward()
        opt.step()
    return model.eval()


def sequence_loss(model, texts):
    x, y = batch(list(texts))
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(model(x).transpose(1, 2), y, reduction="none")
    return nll.sum(dim=1).tolist()


def generate(model, ids, n):
    out = list(ids)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([[BOS] + out]))[0, -1]
            out.append(int(logits.argmax()))
    return out[len(ids):]


def corpus(n=400, seed=3):
    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "my friend", "the teacher", "our neighbour", "a bird"]
    verbs = ["sat on", "looked at", "walked to", "painted", "found", "waited by"]
    objects = ["the mat", "a tree", "the river", "an old house", "the garden", "a red car"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}" for _ in range(n)]
