// A ZMTP 3.0 SUB client over TCP (NULL mechanism) that receives facecast bridge messages on a
// worker thread, keeps only the newest decoded frame, and reconnects with backoff.
// Plain C++17, no Unreal types.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "FacecastProtocol.h"

namespace facecast {

enum class ConnectionState { Disconnected, Connecting, Connected };
const char* ConnectionStateName(ConnectionState state);

class ZmtpClient {
 public:
  static constexpr const char* kTopicParams = facecast::kTopicParams;  // the topics are defined with the decoder
  static constexpr const char* kTopicFrame = facecast::kTopicFrame;
  static constexpr size_t kMaxMessageBytes = 64u << 20;

  ZmtpClient();
  ~ZmtpClient();
  ZmtpClient(const ZmtpClient&) = delete;
  ZmtpClient& operator=(const ZmtpClient&) = delete;

  // Connects to host:port (IPv4 address or name) and subscribes to `topics`.
  void Start(const std::string& host, uint16_t port, std::vector<std::string> topics);
  // Stops the worker (within ~100 ms) and closes the socket. Safe to call twice.
  void Stop();

  // Moves the newest frame received since the last call into `out`; false if none.
  bool TryTakeLatest(Frame& out);
  // The same, but waits up to `timeout` for one to arrive (for a consumer on its own thread).
  bool WaitTakeLatest(Frame& out, std::chrono::milliseconds timeout);

  ConnectionState State() const { return state_.load(); }
  std::map<std::string, uint64_t> Rejections() const;
  std::string VersionError() const;  // empty unless a newer major version was seen
  std::string LastError() const;     // the last connection or protocol error, for people

 private:
  void Run();
  bool Session(int fd);
  void Reject(const std::string& reason);
  void SetError(const std::string& text);
  bool Sleep(std::chrono::milliseconds duration);

  std::string host_;
  uint16_t port_ = 0;
  std::vector<std::string> topics_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::atomic<ConnectionState> state_{ConnectionState::Disconnected};
  mutable std::mutex mutex_;
  std::condition_variable latest_ready_;  // notified when latest_ is set
  bool has_latest_ = false;
  Frame latest_;
  std::map<std::string, uint64_t> rejections_;
  std::string version_error_, last_error_;
};

}  // namespace facecast
