// CacheWriter write throughput vs fwrite of the same bytes.
//   store_write_bench [dir] [MiB] [width] [f32|f16] [sync 0|1] [repeats]
// Every rank writes its chunks of one cache; then each rank fwrites its
// share to a plain file. The two alternate `repeats` times and the median
// is reported, since on a shared machine the page cache's writeback
// throttling hits whichever runs second. CacheWriter::finalize always
// fsyncs (a finished cache is durable), so sync=1, which fsyncs the plain
// file too, is the like-for-like comparison; sync=0 times fwrite to the page
// cache only, as a reference.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fathom/comm/communicator.h"
#include "fathom/store/cache_writer.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path().string();
  const std::int64_t mib = argc > 2 ? std::stoll(argv[2]) : 256;
  const std::int64_t width = argc > 3 ? std::stoll(argv[3]) : 4096;
  const std::string dtype = argc > 4 ? argv[4] : "f32";
  const bool sync = argc > 5 && std::string(argv[5]) == "1";
  const int repeats = argc > 6 ? std::stoi(argv[6]) : 3;
  auto comm = fathom::comm::make_communicator("auto");
  const int rank = comm->rank(), size = comm->size();

  fathom::store::CacheSchema schema;
  const std::int64_t elem = dtype == "f16" ? 2 : 4;
  schema.rows = (mib << 20) / (width * elem);
  schema.datasets = {{"gradients", width, fathom::store::element_type_from_name(dtype)}};
  const std::int64_t rpc = fathom::store::resolved(schema).rows_per_chunk;
  const std::string path = dir + "/store_bench.h5", plain = dir + "/store_bench." + std::to_string(rank) + ".bin";
  std::vector<float> block(std::size_t(rpc * width));
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = float(i % 1000) * 0.001f;
  // fwrite gets bytes already in file format: the comparison is I/O plus
  // HDF5 overhead (f16 conversion included on the cache side).
  std::vector<char> bytes(block.size() * std::size_t(elem), 1);

  std::vector<double> cache_s, plain_s;
  for (int rep = 0; rep < repeats; ++rep) {
    std::int64_t my_rows = 0;
    comm->barrier();
    auto t0 = Clock::now();
    {
      auto w = fathom::store::CacheWriter::create(path, schema, *comm);
      for (std::int64_t c : w.chunks_of_rank(rank, size)) {
        const auto r = w.chunk_rows(c);
        w.write_rows("gradients", r.begin, r.count, block.data());
        my_rows += r.count;
      }
      w.finalize();
    }
    comm->barrier();
    cache_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());

    comm->barrier();
    t0 = Clock::now();
    FILE* f = std::fopen(plain.c_str(), "wb");
    for (std::int64_t done = 0; done < my_rows; done += rpc)
      std::fwrite(bytes.data(), 1, std::size_t(std::min(rpc, my_rows - done) * width * elem), f);
    std::fflush(f);
    if (sync) ::fsync(fileno(f));
    std::fclose(f);
    comm->barrier();
    plain_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    std::filesystem::remove(plain);
    comm->barrier();
    if (rank == 0) std::filesystem::remove(path);
  }
  const double mb = double(schema.rows * width * elem) / 1e6;
  if (rank == 0)
    std::printf("ranks=%d rows=%lld width=%lld dtype=%s %.1f MB rows_per_chunk=%lld sync=%d (median of %d)\n"
                "  %-44s %.3f s  %6.0f MB/s\n"
                "  %-44s %.3f s  %6.0f MB/s\n",
                size, (long long)schema.rows, (long long)width, dtype.c_str(), mb, (long long)rpc, int(sync), repeats,
                "CacheWriter create+write+finalize (fsync):", median(cache_s), mb / median(cache_s),
                sync ? "fwrite of the same bytes + fsync:" : "fwrite of the same bytes (page cache):", median(plain_s), mb / median(plain_s));
  return 0;
}
