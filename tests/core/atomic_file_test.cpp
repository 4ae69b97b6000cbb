// AtomicFile: a reader (or a resumed run) sees the old file or the new one,
// never a partial one. The crash tests kill a forked child between writing
// and commit(), as a SIGKILL or a node failure would.
#include "fathom/core/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fathom/core/error.h"

namespace fs = std::filesystem;

namespace {

// Reads with plain iostreams, not fathom::read_file (the code under test).
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("fathom_atomic_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "out.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_plain(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }
  // Every entry of the directory except out.json.
  std::vector<std::string> others() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename() != "out.json") names.push_back(e.path().filename().string());
    return names;
  }

  // Forks a child that writes `payload` through an AtomicFile on path_, flushes
  // it to the temporary, and dies by `how` before commit(). Returns its pid.
  pid_t crash_child_before_commit(const std::string& payload, int how) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        fathom::AtomicFile f(path_);
        f.stream() << payload;
        f.stream().flush();  // the bytes reach the temporary file
        if (how == SIGKILL) ::kill(::getpid(), SIGKILL);
        ::_exit(17);  // no destructors, no commit
      } catch (...) {
        ::_exit(99);  // never return into the test runner in the child
      }
    }
    return pid;
  }

  fs::path dir_;
  std::string path_;
};

const std::string kOld = "{\"version\": 1}\n";

TEST_F(AtomicFileTest, SigkillBetweenWriteAndRenameLeavesTheOldFile) {
  write_plain(kOld);
  const std::string payload(1 << 20, 'n');  // large enough to be half-written elsewhere
  const pid_t pid = crash_child_before_commit(payload, SIGKILL);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

  const std::string now = slurp(path_);
  EXPECT_TRUE(now == kOld) << "the destination holds " << now.size() << " bytes: " << now.substr(0, 40) << "...";
  // The child's bytes went to its own temporary, which a crash leaves behind
  // under a name no reader opens.
  const std::string tmp = path_ + ".tmp." + std::to_string(pid);
  EXPECT_EQ(others(), std::vector<std::string>({fs::path(tmp).filename().string()}));
  EXPECT_EQ(fs::file_size(tmp), payload.size());
}

TEST_F(AtomicFileTest, ExitWithoutCommitLeavesTheOldFile) {
  write_plain(kOld);
  const pid_t pid = crash_child_before_commit("{\"version\": 2", 0);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 17) << "child status " << status;
  EXPECT_EQ(slurp(path_), kOld);
}

TEST_F(AtomicFileTest, CrashBeforeFirstCommitCreatesNoDestination) {
  const pid_t pid = crash_child_before_commit("partial", SIGKILL);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(AtomicFileTest, CommitReplacesTheWholeFileAtOnce) {
  write_plain(kOld);
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  std::ifstream reader_of_old(path_, std::ios::binary);  // opened before the replace
  {
    fathom::AtomicFile f(path_);
    f.stream() << "{\"version\": 2,\n \"rows\": 10}\n";
    f.stream().flush();
    EXPECT_EQ(slurp(path_), kOld) << "visible before commit";
    f.commit();
    EXPECT_EQ(f.path(), path_);
  }
  EXPECT_EQ(slurp(path_), "{\"version\": 2,\n \"rows\": 10}\n");
  // rename(2) swaps the directory entry: a new inode, and a reader that had
  // the old file open still reads the old bytes in full.
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  std::ostringstream old_text;
  old_text << reader_of_old.rdbuf();
  EXPECT_EQ(old_text.str(), kOld);
  EXPECT_TRUE(others().empty());
}

TEST_F(AtomicFileTest, DestructionWithoutCommitRemovesTheTemporary) {
  write_plain(kOld);
  {
    fathom::AtomicFile f(path_);
    f.stream() << "abandoned";
    f.stream().flush();
    EXPECT_EQ(others().size(), 1u) << "the temporary exists while writing";
  }
  EXPECT_TRUE(others().empty());
  EXPECT_EQ(slurp(path_), kOld);
}

TEST_F(AtomicFileTest, WriteFileAtomicAndReadFileRoundTrip) {
  const std::string bytes("a\0b\nc", 5);
  fathom::write_file_atomic(path_, bytes);
  EXPECT_EQ(slurp(path_), bytes);
  EXPECT_EQ(fathom::read_file(path_), bytes);
  EXPECT_TRUE(others().empty());
}

TEST_F(AtomicFileTest, CannotCreateNamesThePath) {
  const std::string missing_dir = (dir_ / "no_such_dir" / "x.json").string();
  try {
    fathom::AtomicFile f(missing_dir);
    FAIL() << "no throw";
  } catch (const fathom::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing_dir + ".tmp."), std::string::npos) << e.what();
    EXPECT_EQ(fathom::exit_code_for(e), 1);
  }
}

TEST_F(AtomicFileTest, FailedRenameNamesBothPathsAndCleansUp) {
  // A non-empty directory where the file should go: rename(2) must fail.
  fs::create_directories(fs::path(path_) / "child");
  try {
    fathom::AtomicFile f(path_);
    f.stream() << "new";
    f.commit();
    FAIL() << "no throw";
  } catch (const fathom::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + path_ + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("'" + path_ + ".tmp."), std::string::npos) << what;
  }
  EXPECT_TRUE(others().empty()) << "the temporary was not removed";
  EXPECT_TRUE(fs::is_directory(path_));
}

TEST_F(AtomicFileTest, ReadFileOfMissingPathIsAnInputError) {
  try {
    fathom::read_file(path_);
    FAIL() << "no throw";
  } catch (const fathom::InputError& e) {
    EXPECT_EQ(e.file(), path_);
    EXPECT_EQ(fathom::exit_code_for(e), 2);
  }
}

TEST_F(AtomicFileTest, FsyncOfMissingFileNamesThePath) {
  try {
    fathom::fsync_file(path_);
    FAIL() << "no throw";
  } catch (const fathom::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + path_ + "'"), std::string::npos) << e.what();
  }
}

}  // namespace
