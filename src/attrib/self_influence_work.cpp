// Resume files and training-row gradients for self_influence()
// (self_influence_internal.h).
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "fathom/core/atomic_file.h"
#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "self_influence_internal.h"

namespace fathom::attrib::detail {
namespace {

namespace fs = std::filesystem;
constexpr char kMagic[] = "fathom-self-influence-work 1\n";

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <class T>
bool take(const std::string& in, std::size_t& at, T& v) {
  if (at + sizeof(T) > in.size()) return false;
  std::memcpy(&v, in.data() + at, sizeof(T));
  at += sizeof(T);
  return true;
}

}  // namespace

WorkFile::WorkFile(std::string dir, std::string key, int rank, int size, bool enabled, double period_s)
    : dir_(std::move(dir)),
      key_(std::move(key)),
      file_((fs::path(dir_) / ("rank-" + std::to_string(rank) + "-of-" + std::to_string(size) + ".bin")).string()),
      enabled_(enabled),
      period_s_(period_s),
      last_save_s_(now_s()) {}

WorkState WorkFile::load(std::size_t expected_values) const {
  WorkState s;
  if (!enabled_ || !fs::exists(file_)) return s;
  std::string bytes;
  try {
    bytes = read_file(file_);
  } catch (const std::exception& e) {
    spdlog::warn("{}: unreadable, starting over ({})", file_, e.what());
    return s;
  }
  const std::size_t magic = std::strlen(kMagic);
  std::size_t at = magic;
  std::int64_t key_size = 0, done = 0, count = 0;
  const bool ok = bytes.compare(0, magic, kMagic) == 0 && take(bytes, at, key_size) && key_size >= 0 &&
                  at + std::size_t(key_size) <= bytes.size() && bytes.compare(at, std::size_t(key_size), key_) == 0 &&
                  (at += std::size_t(key_size), take(bytes, at, done)) && take(bytes, at, count) &&
                  std::size_t(count) == expected_values && at + std::size_t(count) * sizeof(double) == bytes.size();
  if (!ok) {
    spdlog::info("{}: from other settings or another rank count; starting over", file_);
    return s;
  }
  s.done = done;
  s.values.resize(std::size_t(count));
  if (count > 0) std::memcpy(s.values.data(), bytes.data() + at, std::size_t(count) * sizeof(double));
  return s;
}

void WorkFile::maybe_save(std::int64_t done, const std::vector<double>& values, bool force) {
  if (!enabled_) return;
  const double t = now_s();
  if (!force && t - last_save_s_ < period_s_) return;
  last_save_s_ = t;
  std::string out(kMagic);
  put(out, std::int64_t(key_.size()));
  out += key_;
  put(out, done);
  put(out, std::int64_t(values.size()));
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  fs::create_directories(dir_);
  write_file_atomic(file_, out);
}

void WorkFile::remove_all() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

torch::Tensor training_gradients(grads::PerExampleGradients& gradients, const TrainingRows& rows,
                                 std::int64_t begin, std::int64_t end) {
  std::vector<std::int64_t> idx(std::size_t(end - begin));
  std::iota(idx.begin(), idx.end(), begin);
  const model::Batch batch = rows.make_batch(idx);
  return gradients.compute(batch, grads::LossTarget::gold).gradients.to(torch::kCPU).to(torch::kDouble);
}

}  // namespace fathom::attrib::detail
