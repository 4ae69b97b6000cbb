#pragma once
// The server tests' tools: a `fathom serve` child process on a free port and
// a raw HTTP/1.1 client over POSIX sockets (so a test can send any bytes:
// truncated JSON, invalid UTF-8, oversized bodies, wrong methods).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fathom::serve_testing {

struct HttpResponse {
  int status = 0;  // 0 = no response (connection failed or closed early)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One request on a fresh connection ("Connection: close"); `raw` replaces the
// whole request when not empty, and is followed by a half-close (so a server
// waiting for bytes a broken request promised sees EOF instead of waiting).
inline HttpResponse http(int port, const std::string& method, const std::string& path, const std::string& body = "",
                         const std::string& raw = "", int timeout_s = 60) {
  HttpResponse r;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(std::uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = raw;
  if (req.empty()) {
    req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (method == "POST") req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
  }
  std::size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may refuse early (413): read what it said
    sent += std::size_t(n);
  }
  if (!raw.empty()) ::shutdown(fd, SHUT_WR);
  std::string in;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, std::size_t(n));
  }
  ::close(fd);
  const std::size_t head_end = in.find("\r\n\r\n");
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(in.c_str() + 9);
  std::size_t line = in.find("\r\n") + 2;
  while (line < head_end) {
    const std::size_t next = in.find("\r\n", line);
    const std::string h = in.substr(line, next - line);
    const std::size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
      std::size_t v = colon + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      r.headers[name] = h.substr(v);
    }
    line = next + 2;
  }
  r.body = in.substr(head_end + 4);
  return r;
}

// `fathom serve --port 0 ARGS...` as a child; the port comes from its first
// stdout line. Killed (SIGKILL) on destruction if still running.
class ServerProcess {
 public:
  ServerProcess(const std::string& binary, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> all = {binary, "--log-level", "warn", "serve", "--port", "0"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::_Exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    out_fd_ = out[0];
    const std::size_t colon = line.rfind(':');
    if (line.find("listening on http://") == std::string::npos || colon == std::string::npos)
      throw std::runtime_error("fathom serve did not start: '" + line + "'");
    port_ = std::atoi(line.c_str() + colon + 1);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool alive() const { return !exited_ && ::kill(pid_, 0) == 0; }
  void signal(int sig) { ::kill(pid_, sig); }
  // Exit code after waiting up to `timeout_s`, or -1 (still running) / -2 (killed by a signal).
  int wait_exit(double timeout_s) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Resident set size in KiB (/proc), 0 if unknown.
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string key;
    while (in >> key) {
      if (key == "VmRSS:") {
        long v = 0;
        in >> v;
        return v;
      }
      std::getline(in, key);
    }
    return 0;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  bool exited_ = false;
};

inline nlohmann::json body_of(const HttpResponse& r) { return nlohmann::json::parse(r.body); }

// A 4xx JSON error {"error": {"status", "field", "message"}} that names `field` ("" = any).
inline void expect_error(const HttpResponse& r, int status, const std::string& field, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  if (r.status < 400) return;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << ": " << r.body;
  EXPECT_EQ(j["error"]["status"], status) << what;
  if (!field.empty()) EXPECT_EQ(j["error"]["field"], field) << what << ": " << r.body;
}

// A test suite sharing one server: the suite's SetUpTestSuite starts it
// into server_ (Derived keeps each suite's server apart); torn down after
// the suite.
template <class Derived>
class SharedServerSuite : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static inline ServerProcess* server_ = nullptr;
};

}  // namespace fathom::serve_testing
