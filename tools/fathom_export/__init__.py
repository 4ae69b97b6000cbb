"""Python side of fathom model bundles (used by tools/export-model).

Modules: wrapper (the TorchScript contract module), models (BERT-small and
BiLSTM encoders), tokenizer (BERT-compatible basic + wordpiece tokenizer and
vocabulary builder), data (JSONL corpus reading, demo corpus), train
(a short Adam loop), bundle (fathom.json / vocab / labels / expected.json).
"""
