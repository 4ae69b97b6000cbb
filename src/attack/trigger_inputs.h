#pragma once
// Private to the attack module: inputs with a trigger spliced in, and the
// forward/backward passes of the trigger search and evaluation (triggers.h
// states the semantics).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "fathom/attack/triggers.h"
#include "fathom/model/bundle.h"

namespace fathom::attack::detail {

// The examples a search draws its batches from, with the label each one's
// objective F is taken at: F = sign · CE(logits, label).
struct AttackTargets {
  std::vector<const data::Example*> examples;
  std::vector<std::int64_t> labels;
  double sign = 1.0;  // +1 targeted (towards the target), −1 untargeted (away from gold)
};

// Throws as search_trigger documents (unknown target/from label, no example
// left, position pair without a second text).
AttackTargets select_examples(const model::Bundle& bundle, const std::vector<data::Example>& examples,
                              const TriggerConfig& config);

// One batch with the current trigger spliced into every row.
struct TriggerBatch {
  model::Batch base;               // [B,T] ids/mask/type ids, the trigger at at[b]..at[b]+L-1
  std::vector<std::int64_t> at;    // first trigger position of each row
  torch::Tensor labels;            // [B] the label F is taken at
  double sign = 1.0;
  std::int64_t length = 0;         // L
  std::int64_t size() const { return base.size(); }
};

TriggerBatch make_trigger_batch(const model::Bundle& bundle, const AttackTargets& targets,
                                const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& trigger,
                                const TriggerConfig& config);

// ONE forward pass over candidates[c0, c1) × the batch's rows: out[i] = the
// mean over rows of F with candidate c0 + i spliced in.
void candidate_losses(model::Model& model, const TriggerBatch& batch,
                      const std::vector<std::vector<std::int64_t>>& candidates, std::int64_t c0, std::int64_t c1,
                      double* out);

// Σ over rows [r0, r1) of ∂F/∂e at the trigger positions (one forward and
// backward): out[q * E + e], q < L, overwritten.
void trigger_gradient_sum(model::Model& model, const TriggerBatch& batch, std::int64_t r0, std::int64_t r1,
                          double* out);

// Labelled examples for evaluation, with their gold label index.
struct LabelledExample {
  const data::Example* example;
  std::int64_t gold;
};
std::vector<LabelledExample> labelled_examples(const model::Bundle& bundle, const std::vector<data::Example>& examples,
                                               TriggerPosition position);

// Predictions of rows [r0, r1) without (out[i]) and with the trigger
// (out[batch + i]), i = row − r0.
void predict_with_and_without(model::Bundle& bundle, const std::vector<LabelledExample>& examples, std::int64_t r0,
                              std::int64_t r1, const std::vector<std::int64_t>& trigger, const TriggerConfig& config,
                              double* out);

}  // namespace fathom::attack::detail
