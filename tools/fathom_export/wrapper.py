"""FathomWrapper: the TorchScript module a fathom "torchscript" bundle holds.

Copy this class to wrap your own classifier. fathom's C++ adapter calls these
methods on the scripted module (shapes: B batch, T tokens, E embedding dim,
H feature dim, C labels, V vocabulary; ids/mask/type_ids are int64, mask is
1 for real tokens and 0 for padding, padding ids are [PAD]):

  embed(ids [B,T])                        -> [B,T,E] context-independent token
                                             embeddings (no positions, no types)
  forward_from_embeddings(emb, mask, type_ids)
                                          -> (logits [B,C], features [B,H])
  forward(ids, mask, type_ids)            -> logits [B,C]
  embedding_matrix()                      -> [V,E] (the weight embed() looks up)

Rules the adapter relies on:
  * `classifier` is a plain nn.Linear(H, C) attribute at the top level, so the
    parameters are named "classifier.weight" / "classifier.bias" and
    logits == features @ classifier.weight.T + classifier.bias exactly;
  * `embeddings` is the nn.Embedding(V, E) that embed() uses; everything
    position- or context-dependent (positions, segment embeddings, LayerNorm,
    attention, pooling) belongs in `encoder`, which maps
    (emb [B,T,E], mask [B,T], type_ids [B,T]) -> features [B,H];
  * outputs at real tokens must not depend on how much padding follows them
    (fathom pads each batch to its longest sequence);
  * the module is compiled with torch.jit.script (not traced) so any B and T
    work, and it must also run after .to(torch.float64).
"""
from typing import Tuple

import torch
from torch import Tensor, nn


class FathomWrapper(nn.Module):
    def __init__(self, embeddings: nn.Embedding, encoder: nn.Module, classifier: nn.Linear):
        super().__init__()
        self.embeddings = embeddings
        self.encoder = encoder
        self.classifier = classifier

    @torch.jit.export
    def embed(self, ids: Tensor) -> Tensor:
        return self.embeddings(ids)

    @torch.jit.export
    def embedding_matrix(self) -> Tensor:
        return self.embeddings.weight

    @torch.jit.export
    def forward_from_embeddings(self, emb: Tensor, mask: Tensor, type_ids: Tensor) -> Tuple[Tensor, Tensor]:
        features = self.encoder(emb, mask, type_ids)
        return self.classifier(features), features

    def forward(self, ids: Tensor, mask: Tensor, type_ids: Tensor) -> Tensor:
        return self.forward_from_embeddings(self.embed(ids), mask, type_ids)[0]


def script(model: FathomWrapper) -> torch.jit.ScriptModule:
    """eval() + torch.jit.script; save the result with torch.jit.save(m, "model.pt")."""
    return torch.jit.script(model.eval())
