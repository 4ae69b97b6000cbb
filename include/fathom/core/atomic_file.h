#pragma once
// Write-then-rename files: a reader never sees a half-written output, and a
// crash leaves the previous version (or nothing) in place. Resumable steps
// rely on this: an output that exists is complete.
#include <fstream>
#include <string>

namespace fathom {

class AtomicFile {
 public:
  // Opens "<path>.tmp.<pid>" for writing (binary). Throws Error if it cannot.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary if commit() was not called
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, fsyncs and renames over `path`. Throws Error on any failure.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Forces a closed file's data to disk (fsync). Throws Error on failure.
void fsync_file(const std::string& path);

// Whole-file helpers.
void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);  // throws InputError if unreadable

}  // namespace fathom
