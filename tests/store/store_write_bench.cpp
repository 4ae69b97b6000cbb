// CacheWriter write throughput vs fwrite of the same bytes.
// Every rank writes its chunks of one cache; then each rank fwrites its
// share to a plain file. Neither path fsyncs, so both measure the way to
// the page cache (what a training job sees), not the disk.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/store/cache_writer.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path().string();
  const std::int64_t mib = argc > 2 ? std::stoll(argv[2]) : 256;
  const std::int64_t width = argc > 3 ? std::stoll(argv[3]) : 4096;
  const std::string dtype = argc > 4 ? argv[4] : "f32";
  auto comm = fathom::comm::make_communicator("auto");
  const int rank = comm->rank(), size = comm->size();

  fathom::store::CacheSchema schema;
  const std::int64_t elem = dtype == "f16" ? 2 : 4;
  schema.rows = (mib << 20) / (width * elem);
  schema.datasets = {{"gradients", width, fathom::store::dtype_from_name(dtype)}};
  const std::string path = dir + "/store_bench.h5", plain = dir + "/store_bench." + std::to_string(rank) + ".bin";

  std::vector<float> row_block;
  double cache_s = 0, plain_s = 0;
  std::int64_t my_rows = 0;
  {
    comm->barrier();
    const auto t0 = Clock::now();
    auto w = fathom::store::CacheWriter::create(path, schema, *comm);
    const std::int64_t rpc = w.schema().rows_per_chunk;
    row_block.assign(std::size_t(rpc * width), 0.0f);
    for (std::size_t i = 0; i < row_block.size(); ++i) row_block[i] = float(i % 1000) * 0.001f;
    for (std::int64_t c : w.chunks_of_rank(rank, size)) {
      const auto r = w.chunk_rows(c);
      w.write_rows("gradients", r.begin, r.count, row_block.data());
      my_rows += r.count;
    }
    w.finalize();
    comm->barrier();
    cache_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  {
    // The same bytes per rank (already converted for f16: fwrite gets no
    // conversion work, so the comparison is I/O plus HDF5 overhead).
    std::vector<char> bytes(row_block.size() * std::size_t(elem));
    const std::int64_t rpc = std::int64_t(row_block.size()) / width;
    comm->barrier();
    const auto t0 = Clock::now();
    FILE* f = std::fopen(plain.c_str(), "wb");
    for (std::int64_t done = 0; done < my_rows; done += rpc) {
      const std::int64_t n = std::min(rpc, my_rows - done);
      std::fwrite(bytes.data(), 1, std::size_t(n * width * elem), f);
    }
    std::fclose(f);
    comm->barrier();
    plain_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double total_mb = double(schema.rows * width * elem) / 1e6;
  if (rank == 0)
    std::printf("ranks=%d rows=%lld width=%lld dtype=%s bytes=%.1f MB rows_per_chunk=%lld\n"
                "  CacheWriter (create+write+finalize): %.3f s  %.0f MB/s\n"
                "  fwrite of the same bytes:            %.3f s  %.0f MB/s\n",
                size, (long long)schema.rows, (long long)width, dtype.c_str(), total_mb,
                (long long)fathom::store::resolved(schema).rows_per_chunk, cache_s, total_mb / cache_s, plain_s,
                total_mb / plain_s);
  comm->barrier();
  std::filesystem::remove(plain);
  if (rank == 0) std::filesystem::remove(path);
  return 0;
}
