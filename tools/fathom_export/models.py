"""Encoders for tools/export-model; each maps (emb, mask, type_ids) -> features
[B,H] and is wrapped with FathomWrapper (embeddings + encoder + classifier)."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .wrapper import FathomWrapper


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads != 0:
            raise ValueError("--hidden %d is not divisible by --heads %d" % (hidden, heads))
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, additive_mask: Tensor) -> Tensor:
        b, t, h = x.size(0), x.size(1), x.size(2)
        q = self.query(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.key(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.value(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + additive_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, h)
        return self.output(ctx)


class EncoderLayer(nn.Module):
    """Post-LN BERT layer: x = LN(x + Attn(x)); x = LN(x + FFN(x)), GELU FFN."""

    def __init__(self, hidden: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(hidden, heads, dropout)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, ff)
        self.output = nn.Linear(ff, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, additive_mask: Tensor) -> Tensor:
        x = self.attention_norm(x + self.dropout(self.attention(x, additive_mask)))
        return self.output_norm(x + self.dropout(self.output(F.gelu(self.intermediate(x)))))


class BertEncoder(nn.Module):
    """Positions + token types + LayerNorm, N encoder layers, pooler
    (Linear+tanh on position 0, the [CLS] token) = features."""

    def __init__(self, embedding_dim: int, hidden: int, layers: int, heads: int, ff: int,
                 max_length: int, type_vocab: int = 2, dropout: float = 0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_length, embedding_dim)
        self.token_type_embeddings = nn.Embedding(type_vocab, embedding_dim)
        self.layer_norm = nn.LayerNorm(embedding_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Identity() if embedding_dim == hidden else nn.Linear(embedding_dim, hidden)
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads, ff, dropout) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, emb: Tensor, mask: Tensor, type_ids: Tensor) -> Tensor:
        positions = torch.arange(emb.size(1), device=emb.device).unsqueeze(0)
        x = emb + self.position_embeddings(positions) + self.token_type_embeddings(type_ids)
        x = self.projection(self.dropout(self.layer_norm(x)))
        additive_mask = (1.0 - mask.to(x.dtype))[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, additive_mask)
        return torch.tanh(self.pooler(x[:, 0]))


class BiLSTMEncoder(nn.Module):
    """Packed BiLSTM (so padding never reaches the backward direction),
    masked max-pool over time of [fwd;bwd], Linear+tanh = features.
    type_ids are ignored."""

    def __init__(self, embedding_dim: int, hidden: int, layers: int, dropout: float = 0.1):
        super().__init__()
        self.lstm = nn.LSTM(embedding_dim, hidden, num_layers=layers, batch_first=True,
                            bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(2 * hidden, hidden)

    def forward(self, emb: Tensor, mask: Tensor, type_ids: Tensor) -> Tensor:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=emb.size(1))
        out = out.masked_fill(mask.unsqueeze(-1) == 0, -1e4)
        pooled = torch.max(out, dim=1)[0]
        return torch.tanh(self.projection(self.dropout(pooled)))


ARCHITECTURES = {"bert": "bert-small", "bilstm": "bilstm"}

# The "head" parameter group (fathom --params head): the last encoder layer
# before the classifier, and the classifier.
HEAD_GROUPS = {
    "bert": ["encoder.pooler.weight", "encoder.pooler.bias", "classifier.weight", "classifier.bias"],
    "bilstm": ["encoder.projection.weight", "encoder.projection.bias", "classifier.weight", "classifier.bias"],
}


def make_model(arch, vocab_size, num_labels, embedding_dim=64, hidden=64, layers=2, heads=4,
               ff=None, max_length=64, dropout=0.1, pad_id=0):
    if arch == "bert":
        encoder = BertEncoder(embedding_dim, hidden, layers, heads, ff or 2 * hidden, max_length,
                              dropout=dropout)
        embeddings = nn.Embedding(vocab_size, embedding_dim)
    elif arch == "bilstm":
        encoder = BiLSTMEncoder(embedding_dim, hidden, layers, dropout)
        embeddings = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
    else:
        raise ValueError("unknown --arch %r (bert | bilstm)" % arch)
    model = FathomWrapper(embeddings, encoder, nn.Linear(hidden, num_labels))
    if arch == "bert":  # BERT initialisation: N(0, 0.02), zero biases, unit LayerNorm
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
    return model
