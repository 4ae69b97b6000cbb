#pragma once
// The one table of names in a fathom cache file. Every dataset and
// attribute name that the writers (store::CacheWriter, grads::build_cache),
// the readers (store::CacheReader, grads::read_cache_info) and `fathom
// inspect` (store::describe) use comes from here, so a rename is one edit
// and a reader cannot drift from the writer.
//
// Two layers:
//  * the cache format itself (store): the resume record and the attributes
//    the writer manages (a schema must not set them);
//  * the gradient cache (`fathom cache`, layout in grads/cache_build.h):
//    its datasets and provenance attributes.
// Header-only constants; any rank, any thread.
#include <cstdint>

namespace fathom::store::cache_names {

// Value of attr::kFormat in every fathom cache.
inline constexpr const char* kCacheFormat = "fathom.cache";
// Value of attr::kFormatVersion this build writes (and the newest it reads).
inline constexpr std::int64_t kCacheFormatVersion = 1;

namespace dataset {
// ---- the cache format (store) ----
// uint8 [num_chunks]: 1 once every dataset of that row-chunk is written.
inline constexpr const char* kComplete = "complete";

// ---- the gradient cache (grads) ----
inline constexpr const char* kIds = "ids";                  // str [N]
inline constexpr const char* kLabels = "labels";            // i64 [N] gold label index, data::kNoLabel if none
inline constexpr const char* kTargets = "targets";          // i64 [N] label the loss used
inline constexpr const char* kPredictions = "predictions";  // i64 [N] argmax of the logits
inline constexpr const char* kLosses = "losses";            // f32 [N]
inline constexpr const char* kLogits = "logits";            // f32 [N,C]
inline constexpr const char* kFeatures = "features";        // f32|f16 [N,H]
inline constexpr const char* kGradients = "gradients";      // f32|f16 [N,k]
}  // namespace dataset

namespace attr {
// ---- the cache format (store): managed by the writer ----
inline constexpr const char* kFormat = "format";                 // kCacheFormat
inline constexpr const char* kFormatVersion = "format_version";  // int
inline constexpr const char* kRowsPerChunk = "rows_per_chunk";   // int
inline constexpr const char* kCreatedAt = "created_at";          // UTC ISO 8601
inline constexpr const char* kFathomVersion = "fathom_version";  // string
inline constexpr const char* kComplete = "complete";             // int: 1 once finalized
inline constexpr const char* kReserved[] = {kFormat, kFormatVersion, kRowsPerChunk,
                                            kCreatedAt, kFathomVersion, kComplete};

// ---- the gradient cache (grads): provenance set by build_cache ----
inline constexpr const char* kKind = "kind";  // kGradientCacheKind
inline constexpr const char* kGradientCacheKind = "gradients";
inline constexpr const char* kModelDir = "model_dir";  // recorded, not compared on resume
inline constexpr const char* kModelSha256 = "model_sha256";
inline constexpr const char* kModelKind = "model_kind";
inline constexpr const char* kModelArchitecture = "model_architecture";
inline constexpr const char* kTokenizer = "tokenizer";
inline constexpr const char* kMaxLength = "max_length";
inline constexpr const char* kLabels = "labels";  // label names, index order
inline constexpr const char* kParamFilter = "param_filter";
inline constexpr const char* kParams = "params";              // parameter names
inline constexpr const char* kParamShapes = "param_shapes";   // "2x64"
inline constexpr const char* kParamCounts = "param_counts";
inline constexpr const char* kGradientDim = "gradient_dim";   // D
inline constexpr const char* kStoredDim = "stored_dim";       // k
inline constexpr const char* kProjection = "projection";      // spec text
inline constexpr const char* kProjectionKind = "projection_kind";
inline constexpr const char* kProjectionDim = "projection_dim";
inline constexpr const char* kProjectionSeed = "projection_seed";
inline constexpr const char* kDtype = "dtype";    // f32 | f16 of features and gradients
inline constexpr const char* kTarget = "target";  // gold | predicted
inline constexpr const char* kMethod = "method";  // vectorised | loop
inline constexpr const char* kBatch = "batch";
inline constexpr const char* kCorpusPath = "corpus_path";  // recorded, not compared on resume
inline constexpr const char* kCorpusBytes = "corpus_bytes";
inline constexpr const char* kCorpusSha256 = "corpus_sha256";
inline constexpr const char* kCorpusRecords = "corpus_records";
inline constexpr const char* kScoreSign = "score_sign";  // the influence sign convention, for people
}  // namespace attr

}  // namespace fathom::store::cache_names
