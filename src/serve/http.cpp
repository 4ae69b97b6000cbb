// The HTTP layer of `fathom serve` (server.h): cpp-httplib, signals, drain.
//
// Debian's libcpp-httplib is built with OpenSSL, zlib and Brotli support and
// its header's class layouts depend on the same macros (pkg-config
// cpp-httplib --cflags), so they are defined here exactly as it reports.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <thread>

#include "fathom/core/error.h"
#include "fathom/core/log.h"
#include "fathom/model/model.h"
#include "serve_internal.h"

namespace fathom::serve {
namespace {

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char c = 1;
  // Async-signal-safe: one write; a full pipe already holds a wake-up.
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &c, 1);
}

void send(httplib::Response& res, const ApiResponse& r) {
  res.status = r.status;
  if (r.retry_after_s > 0) res.set_header("Retry-After", std::to_string(r.retry_after_s));
  res.set_content(r.body, r.content_type.c_str());
}

}  // namespace

int serve(const ServeOptions& options) {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  model::configure_threads(options.threads > 0 ? options.threads : std::max(1, cores / std::max(1, options.workers)));
  Api api(options);

  httplib::Server server;
  const std::size_t pool = std::size_t(options.workers + options.queue + 4);
  server.new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  // Bodies over the limit are refused by httplib (413) before they are read whole.
  server.set_payload_max_length(std::size_t(options.limits.max_body_bytes));
  server.set_keep_alive_timeout(2);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);

  auto handler = [&api](const httplib::Request& req, httplib::Response& res) {
    try {
      send(res, api.handle(req.method, req.path, req.body));
    } catch (const std::exception& e) {
      spdlog::error("serve: {} {}: {}", req.method, req.path, describe(e));
      send(res, error_response(500, "", std::string("internal error: ") + e.what(), 0));
    }
  };
  for (const Route& r : routes()) {
    // Both methods reach the API, which answers 405 for the wrong one.
    server.Get(r.path, handler);
    server.Post(r.path, handler);
  }
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "error";
    if (res.status == 404) message = "no such endpoint: " + req.path;
    if (res.status == 413) message = "the body is larger than the server's limit";
    if (res.status == 400) message = "malformed HTTP request";
    const ApiResponse r = error_response(res.status, res.status == 413 ? "body" : "", message, 0);
    res.set_content(r.body, r.content_type.c_str());
  });
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("serve: {} {}: {}", req.method, req.path, what);
    send(res, error_response(500, "", "internal error", 0));
  });

  const int port = options.port == 0 ? server.bind_to_any_port(options.host) :
                   (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0)
    throw UsageError("serve: cannot listen on " + options.host + ":" + std::to_string(options.port) +
                     " (address in use or not available)");

  // SIGTERM/SIGINT -> a byte on a pipe -> the watcher stops the server.
  if (::pipe(g_signal_pipe) != 0) throw Error("serve: pipe() failed");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_term {}, old_int {};
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
  std::atomic<bool> signalled{false};
  std::thread watcher([&] {
    char c = 0;
    while (::read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (c == 1) {
      signalled = true;
      spdlog::info("serve: stop requested; finishing the requests in flight");
      api.start_draining();
      server.stop();
    }
  });

  std::cout << "fathom serve: listening on http://" << options.host << ":" << port << "/" << std::endl;
  const bool clean = server.listen_after_bind();
  // Wake the watcher if the server stopped for another reason.
  const char c = 2;
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &c, 1);
  watcher.join();
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  ::close(g_signal_pipe[0]);
  ::close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
  if (!clean && !signalled) throw Error("serve: the HTTP server stopped unexpectedly");
  spdlog::info("serve: stopped");
  return 0;
}

}  // namespace fathom::serve
