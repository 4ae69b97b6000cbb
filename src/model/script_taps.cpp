// Layer taps inside a TorchScript module: graph analysis, the rewritten
// clones and their calls (contract in script_taps.h).
#include "script_taps.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/jit.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <unordered_map>

#include "fathom/core/log.h"

namespace fathom::model::detail {
namespace {

namespace jit = torch::jit;

// The in-graph halves of a site, compiled once. `on` false: the method's own
// computation, unchanged. Returned placeholders (y, y / x) are ignored.
const char* const kHelpers = R"JIT(
def zero_tap(y: Tensor, batch: int) -> Tensor:
    shape = y.size()
    if len(shape) > 0 and shape[0] == 1:
        shape[0] = batch
    return torch.zeros(shape, dtype=y.dtype, device=y.device).requires_grad_()

def tap_output(y: Tensor, batch: int, on: bool) -> Tuple[Tensor, Tensor]:
    if on:
        tap = zero_tap(y, batch)
        return y + tap, tap
    return y, y

def tap_embedding(y: Tensor, ids: Tensor, padding_idx: int, batch: int, on: bool) -> Tuple[Tensor, Tensor]:
    if on:
        tap = zero_tap(y, batch)
        if padding_idx >= 0:
            return y + tap * (ids != padding_idx).unsqueeze(-1).to(tap.dtype), tap
        return y + tap, tap
    return y, y

def tap_layer_norm(x: Tensor, normalized_shape: List[int], weight: Tensor, bias: Optional[Tensor], eps: float,
                   cudnn_enable: bool, batch: int, on: bool) -> Tuple[Tensor, Tensor, Tensor]:
    if on:
        xhat = torch.layer_norm(x, normalized_shape, None, None, eps, cudnn_enable)
        y = xhat * weight
        if bias is not None:
            y = y + bias
        tap = zero_tap(y, batch)
        return y + tap, tap, xhat
    y = torch.layer_norm(x, normalized_shape, weight, bias, eps, cudnn_enable)
    return y, y, x
)JIT";

std::shared_ptr<jit::Graph> helper_graph(const std::string& name) {
  static const std::shared_ptr<jit::CompilationUnit> unit = jit::compile(kHelpers);
  auto graph = jit::toGraphFunction(unit->get_function(name)).graph()->copy();
  jit::Inline(*graph);
  return graph;
}

// Uses that read only metadata: no gradient flows through them.
bool shape_only(const jit::Symbol& kind) {
  static const std::set<std::string> ops = {"aten::size", "aten::dim",  "prim::dtype",         "prim::device",
                                            "aten::len",  "aten::numel", "prim::layout",       "prim::requires_grad",
                                            "aten::__is__", "aten::__isnot__", "prim::is_cuda", "aten::is_floating_point"};
  return ops.count(kind.toQualString()) != 0;
}

// A value's first real consumer, for messages ("aten::lstm").
std::string consumer(const jit::Value* v) {
  for (const auto& use : v->uses())
    if (!shape_only(use.user->kind())) return use.user->kind().toQualString();
  return "an unknown use";
}

// Every tensor held by `v` (lists, tuples, dicts, objects' attributes).
void collect_tensors(const c10::IValue& v, std::vector<torch::Tensor>& out, int depth = 0) {
  if (depth > 64) return;
  if (v.isObject()) {
    for (const c10::IValue& slot : v.toObjectRef().slots()) collect_tensors(slot, out, depth + 1);
  } else if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) collect_tensors(e, out, depth + 1);
  } else if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) collect_tensors(e, out, depth + 1);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) collect_tensors(e.value(), out, depth + 1);
  }
}

const void* impl(const torch::Tensor& t) { return t.defined() ? t.unsafeGetTensorImpl() : nullptr; }

// [1, ...] -> [B, ...]; other shapes unchanged.
torch::Tensor widened(const torch::Tensor& t, std::int64_t batch) {
  if (t.dim() == 0 || t.size(0) != 1 || batch == 1) return t;
  std::vector<std::int64_t> shape = t.sizes().vec();
  shape[0] = batch;
  return t.expand(shape);
}

}  // namespace

struct ScriptTaps::Site {
  TapKind kind = TapKind::linear;
  bool transposed = false;  // aten::matmul(x, W)
  std::string op;
  jit::Node* node = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
};

struct ScriptTaps::Method {
  std::string name;
  std::shared_ptr<jit::Graph> graph;  // inlined copy; rewritten in place
  std::vector<Site> sites;            // graph order
  std::unique_ptr<jit::GraphFunction> fn;
};

ScriptTaps::ScriptTaps(const torch::jit::Module& module, const std::vector<std::string>& methods) : module_(module) {
  if (const char* env = std::getenv("FATHOM_TORCHSCRIPT_TAPS"); env && std::string(env) == "0") {
    reason_ = "switched off by FATHOM_TORCHSCRIPT_TAPS=0";
    return;
  }
  try {
    for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
      params_.emplace(impl(p.value), p.value);
      names_.emplace(impl(p.value), p.name);
    }
    analyse(methods);
    for (auto& [name, m] : methods_) rewrite(*m);
    usable_ = true;
  } catch (const std::exception& e) {
    usable_ = false;
    reason_ = e.what();
    methods_.clear();
  }
}

ScriptTaps::~ScriptTaps() = default;

void ScriptTaps::mark_untappable(const void* param, const std::string& op) {
  if (!untappable_ids_.insert(param).second) return;
  untappable_.emplace(names_.at(param), op);
}

torch::Tensor ScriptTaps::tappable(const void* param) const {
  if (param == nullptr || untappable_ids_.count(param)) return {};
  return params_.at(param);
}

void ScriptTaps::analyse(const std::vector<std::string>& methods) {
  for (const auto& name : methods) {
    auto m = std::make_unique<Method>();
    m->name = name;
    m->graph = jit::toGraphFunction(module_.get_method(name).function()).graph()->copy();
    jit::Inline(*m->graph);
    jit::Graph& graph = *m->graph;
    std::unordered_map<jit::Node*, std::size_t> site_of;
    auto site = [&](jit::Node* n, TapKind kind, bool transposed) -> Site& {
      auto it = site_of.find(n);
      if (it == site_of.end()) {
        it = site_of.emplace(n, m->sites.size()).first;
        Site s;
        s.kind = kind;
        s.transposed = transposed;
        s.op = n->kind().toQualString();
        s.node = n;
        m->sites.push_back(s);
      }
      return m->sites[it->second];
    };

    // Every use of a parameter value: a site's weight/bias, harmless, or untappable.
    std::function<void(jit::Value*, const void*)> classify = [&](jit::Value* v, const void* p) {
      const torch::Tensor& param = params_.at(p);
      for (const auto& use : v->uses()) {
        jit::Node* n = use.user;
        const jit::Symbol kind = n->kind();
        const std::string op = kind.toQualString();
        if (shape_only(kind)) continue;
        if (kind == jit::prim::unchecked_cast) {  // Optional[Tensor] attribute, refined
          classify(n->output(), p);
          continue;
        }
        if (n->owningBlock() != graph.block()) {
          mark_untappable(p, op + " inside a loop or branch");
          continue;
        }
        const std::size_t at = use.offset;
        if (op == "aten::linear" && (at == 1 || at == 2)) {
          (at == 1 ? site(n, TapKind::linear, false).weight : site(n, TapKind::linear, false).bias) = p;
        } else if (op == "aten::matmul" && at == 1 && param.dim() == 2) {
          site(n, TapKind::linear, true).weight = p;
        } else if (op == "aten::embedding" && at == 0 && param.dim() == 2) {
          auto by_freq = jit::toIValue(n->input(3));
          if (!by_freq || !by_freq->isBool() || by_freq->toBool())
            mark_untappable(p, op + " with scale_grad_by_freq");
          else
            site(n, TapKind::embedding, false).weight = p;
        } else if (op == "aten::layer_norm" && at == 2 && param.dim() == 1) {
          site(n, TapKind::scale_shift, false).weight = p;
        } else if (op == "aten::layer_norm" && at == 3 && param.dim() == 1) {
          site(n, TapKind::scale_shift, false).bias = p;
        } else {
          mark_untappable(p, op);
        }
      }
    };

    // A module object used other than through prim::GetAttr (a method call
    // Inline left, e.g. through an interface): its parameters' uses are not
    // visible here, so none of them can be tapped.
    auto escapes = [&](jit::Value* object_value, const c10::IValue& object) {
      for (const auto& use : object_value->uses()) {
        if (use.user->kind() == jit::prim::GetAttr) continue;
        std::vector<torch::Tensor> held;
        collect_tensors(object, held);
        for (const auto& t : held)
          if (params_.count(impl(t)))
            mark_untappable(impl(t), std::string(use.user->kind().toQualString()) + " (on the module that holds it)");
      }
    };

    // Attribute values along prim::GetAttr chains from self.
    std::unordered_map<const jit::Value*, c10::IValue> values;
    values[graph.inputs().at(0)] = module_._ivalue();
    escapes(graph.inputs().at(0), module_._ivalue());
    std::function<void(jit::Block*)> visit = [&](jit::Block* block) {
      for (jit::Node* n : block->nodes()) {
        for (jit::Block* sub : n->blocks()) visit(sub);
        if (n->kind() != jit::prim::GetAttr) continue;
        auto owner = values.find(n->input(0));
        if (owner == values.end() || !owner->second.isObject()) {
          const auto& type = n->output()->type();
          if (type->kind() == c10::TypeKind::ClassType || type->kind() == c10::TypeKind::IntType ||
              type->kind() == c10::TypeKind::FloatType || type->kind() == c10::TypeKind::BoolType ||
              type->kind() == c10::TypeKind::StringType || type->kind() == c10::TypeKind::NoneType)
            continue;
          throw std::runtime_error("in " + name + ": attribute '" + n->s(jit::attr::name) +
                                   "' of a value that is not reached from self (" + type->str() + ")");
        }
        c10::IValue value = owner->second.toObject()->getAttr(n->s(jit::attr::name));
        values[n->output()] = value;
        if (value.isObject()) {
          escapes(n->output(), value);
          continue;
        }
        if (value.isTensor()) {
          const void* p = impl(value.toTensor());
          if (params_.count(p)) classify(n->output(), p);
          continue;
        }
        std::vector<torch::Tensor> held;
        collect_tensors(value, held);
        for (const auto& t : held)
          if (params_.count(impl(t))) mark_untappable(impl(t), consumer(n->output()) + " (through a tensor list)");
      }
    };
    visit(graph.block());
    methods_[name] = std::move(m);
  }

  // Now that every use is known: drop what cannot be recorded.
  for (auto& [name, m] : methods_) {
    for (auto& s : m->sites)
      if (s.kind == TapKind::scale_shift && s.weight == nullptr && s.bias != nullptr)
        mark_untappable(s.bias, "aten::layer_norm whose weight is not a parameter");
  }
  for (auto& [name, m] : methods_) {
    std::vector<Site> kept;
    for (auto& s : m->sites)
      if (tappable(s.weight).defined() || tappable(s.bias).defined()) kept.push_back(s);
    // Graph order: a site's input may be an earlier site's rewritten output.
    std::stable_sort(kept.begin(), kept.end(), [](const Site& a, const Site& b) { return a.node->isBefore(b.node); });
    m->sites = std::move(kept);
  }
}

void ScriptTaps::rewrite(Method& m) {
  if (m.sites.empty()) return;
  jit::Graph& graph = *m.graph;
  jit::Value* batch = graph.addInput("fathom_batch")->setType(c10::IntType::get());
  jit::Value* flags = graph.addInput("fathom_taps_on")->setType(c10::ListType::create(c10::BoolType::get()));
  static const auto output_helper = helper_graph("tap_output");
  static const auto embedding_helper = helper_graph("tap_embedding");
  static const auto layer_norm_helper = helper_graph("tap_layer_norm");

  std::vector<jit::Value*> taps, activations;
  for (std::size_t k = 0; k < m.sites.size(); ++k) {
    Site& s = m.sites[k];
    jit::Node* n = s.node;
    const bool replace = s.kind == TapKind::scale_shift;
    jit::WithInsertPoint guard(replace ? n : n->next());
    jit::Value* on = graph.insert(jit::aten::__getitem__, {flags, graph.insertConstant(int64_t(k))});
    std::vector<jit::Value*> out;
    if (s.kind == TapKind::scale_shift) {
      std::vector<jit::Value*> in(n->inputs().begin(), n->inputs().end());
      in.push_back(batch);
      in.push_back(on);
      out = jit::insertGraph(graph, *layer_norm_helper, in);
    } else if (s.kind == TapKind::embedding) {
      out = jit::insertGraph(graph, *embedding_helper, {n->output(), n->input(1), n->input(2), batch, on});
    } else {
      out = jit::insertGraph(graph, *output_helper, {n->output(), batch, on});
    }
    jit::Node* unpack = graph.insertNode(graph.createTupleUnpack(out.at(0)));
    if (replace) {
      n->output()->replaceAllUsesWith(unpack->output(0));
      activations.push_back(unpack->output(2));
      n->destroy();
      s.node = nullptr;
    } else {
      n->output()->replaceAllUsesAfterNodeWith(unpack, unpack->output(0));
      activations.push_back(s.kind == TapKind::embedding ? n->input(1) : n->input(0));
    }
    taps.push_back(unpack->output(1));
  }
  jit::WithInsertPoint guard(graph.return_node());
  jit::Value* original = graph.outputs().at(0);
  jit::Value* tap_list = graph.insertNode(graph.createList(c10::TensorType::get(), taps))->output();
  jit::Value* activation_list = graph.insertNode(graph.createList(c10::TensorType::get(), activations))->output();
  jit::Value* all = graph.insertNode(graph.createTuple({original, tap_list, activation_list}))->output();
  graph.eraseOutput(0);
  graph.registerOutput(all);
  graph.lint();
  m.fn = std::make_unique<jit::GraphFunction>("fathom_tapped_" + m.name, m.graph, nullptr,
                                              jit::ExecutorExecutionMode::SIMPLE);
}

std::vector<std::string> ScriptTaps::describe(const std::string& method) const {
  std::vector<std::string> out;
  auto it = methods_.find(method);
  if (it == methods_.end()) return out;
  for (const auto& s : it->second->sites) {
    std::string text = s.op;
    if (s.weight) text += " " + names_.at(s.weight);
    if (s.bias) text += " " + names_.at(s.bias);
    out.push_back(text);
  }
  return out;
}

c10::IValue ScriptTaps::run(const std::string& method, std::vector<c10::IValue> inputs, std::int64_t batch,
                            TapRecorder& recorder) {
  Method& m = *methods_.at(method);
  // Which sites are on: a recordable weight or bias the recorder watches.
  for (const auto& [name, op] : untappable_) {
    if (logged_.count(name)) continue;
    for (const auto& [p, n] : names_)
      if (n == name && recorder.watches(params_.at(p))) {
        spdlog::warn("TorchScript taps: parameter '{}' is used by {}, which the tap rewriter does not handle: "
                     "its per-example gradients take one backward per example",
                     name, op);
        logged_.insert(name);
        break;
      }
  }
  c10::List<bool> flags;
  bool any = false;
  for (const auto& s : m.sites) {
    const torch::Tensor w = tappable(s.weight), b = tappable(s.bias);
    const bool on = (w.defined() && recorder.watches(w)) || (b.defined() && recorder.watches(b));
    flags.push_back(on);
    any = any || on;
  }
  if (!any) return module_.get_method(method)(std::move(inputs));

  std::vector<c10::IValue> stack;
  stack.reserve(inputs.size() + 3);
  stack.emplace_back(module_._ivalue());
  for (auto& v : inputs) stack.push_back(std::move(v));
  stack.emplace_back(batch);
  stack.emplace_back(flags);
  m.fn->run(stack);
  const auto& items = stack.back().toTupleRef().elements();
  const c10::List<torch::Tensor> taps = items.at(1).toTensorList();
  const c10::List<torch::Tensor> activations = items.at(2).toTensorList();

  // A site whose dim 0 is not the batch cannot be split per example: its
  // parameters leave the taps (before anything of this forward is recorded).
  for (std::size_t k = 0; k < m.sites.size(); ++k) {
    if (!flags.get(k)) continue;
    const torch::Tensor tap = taps.get(k);
    if (tap.dim() > 0 && tap.size(0) == batch) continue;
    const Site& s = m.sites[k];
    const std::string why = s.op + " on a tensor of shape " + c10::str(tap.sizes()) + " (dim 0 is not the batch, " +
                            std::to_string(batch) + ")";
    for (const void* p : {s.weight, s.bias})
      if (p && !untappable_ids_.count(p)) {
        mark_untappable(p, why);
        spdlog::warn("TorchScript taps: parameter '{}' is used by {}: its per-example gradients take one backward "
                     "per example",
                     names_.at(p), why);
        logged_.insert(names_.at(p));
      }
  }
  for (std::size_t k = 0; k < m.sites.size(); ++k) {
    if (!flags.get(k)) continue;
    const Site& s = m.sites[k];
    TapCall call;
    call.kind = s.kind;
    call.weight = tappable(s.weight);
    call.bias = tappable(s.bias);
    if (!call.weight.defined() && !call.bias.defined()) continue;
    call.weight_transposed = s.transposed;
    call.input = widened(activations.get(k).detach(), batch);
    call.output = taps.get(k);
    recorder.record(std::move(call));
  }
  return items.at(0);
}

}  // namespace fathom::model::detail
