"""Tokenize, batch (pad to the longest row) and train briefly with Adam."""
import time

import torch
import torch.nn.functional as F


def encode_all(examples, tokenizer, max_length):
    return [tokenizer.encode(ex["text"], ex["text_pair"], max_length)[:2] for ex in examples]


def make_batch(encoded, rows, pad_id):
    width = max(len(encoded[r][0]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    type_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        seq, types = encoded[r]
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        type_ids[i, :len(seq)] = torch.tensor(types)
    return ids, mask, type_ids


@torch.no_grad()
def accuracy(model, encoded, targets, pad_id, batch_size=128):
    model.eval()
    correct = 0
    for start in range(0, len(encoded), batch_size):
        rows = list(range(start, min(start + batch_size, len(encoded))))
        logits = model(*make_batch(encoded, rows, pad_id))
        correct += int((logits.argmax(1) == targets[rows[0]:rows[-1] + 1]).sum())
    return correct / max(1, len(encoded))


def _batches(encoded, batch_size, gen, pool=50):
    """Shuffled batches of similar lengths: shuffle, sort each pool of
    `pool` batches by length, then shuffle the batches (less padding)."""
    order = torch.randperm(len(encoded), generator=gen).tolist()
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start:start + batch_size * pool], key=lambda r: len(encoded[r][0]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def train(model, encoded, targets, pad_id, epochs=2, batch_size=32, lr=1e-3, seed=1, log=print):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        model.train()
        t0, total, steps = time.time(), 0.0, 0
        for rows in _batches(encoded, batch_size, gen):
            ids, mask, type_ids = make_batch(encoded, rows, pad_id)
            loss = F.cross_entropy(model(ids, mask, type_ids), targets[rows])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss)
            steps += 1
        log("epoch %d/%d: loss %.4f (%.1fs)" % (epoch + 1, epochs, total / max(1, steps), time.time() - t0))
    model.eval()
    return model
