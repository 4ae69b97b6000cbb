// LineReader: the one place that touches the file. POSIX read() into a fixed
// buffer avoids iostream overhead and keeps memory flat for any file size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "corpus_internal.h"
#include "fathom/core/error.h"

namespace fathom::data::corpus_detail {

LineReader::LineReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw InputError(path, "cannot read: is a directory, expected a corpus file");
  }
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint; failure is harmless
#endif
  buf_.resize(kBufferSize);
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  for (;;) {
    ssize_t n = ::read(fd_, buf_.data(), buf_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path_, line_no_ + 1, "", std::string("read failed: ") + std::strerror(errno));
    }
    pos_ = 0;
    end_ = static_cast<std::size_t>(n);
    if (n == 0) eof_ = true;
    return n > 0;
  }
}

bool LineReader::next(std::string_view& line) {
  if (carry_returned_) {
    carry_.clear();
    carry_returned_ = false;
  }
  for (;;) {
    if (pos_ < end_) {
      const char* start = buf_.data() + pos_;
      auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
      if (nl) {
        pos_ = static_cast<std::size_t>(nl - buf_.data()) + 1;
        if (carry_.empty()) {
          line = std::string_view(start, static_cast<std::size_t>(nl - start));
        } else {
          carry_.append(start, nl);
          line = carry_;
          carry_returned_ = true;
        }
        break;
      }
      carry_.append(start, end_ - pos_);  // line continues in the next fill
      pos_ = end_;
    }
    if (eof_ || !fill()) {
      if (carry_.empty()) return false;  // also: no partial last line
      line = carry_;                      // last line without '\n'
      carry_returned_ = true;
      break;
    }
  }
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line_no_ == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    line.remove_prefix(3);
  }
  return true;
}

}  // namespace fathom::data::corpus_detail
