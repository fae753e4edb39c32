// ZMTP 3.0 SUB client over TCP with the NULL mechanism (ZeroMQ RFC 23), for facecast's publisher.
#ifdef _WIN32
// Before any include: under MSVC, windows.h (through winsock2.h) would define min/max macros that break
// std::min (MinGW's libstdc++ defines NOMINMAX itself, so a MinGW build cannot show it), and all of windows.h.
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#endif

#include "FacecastZmtpClient.h"

#include <algorithm>
#include <cstring>
#include <utility>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
using SocketLen = int;
#define FACECAST_CLOSE closesocket
#define FACECAST_POLL WSAPoll
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
using SocketLen = socklen_t;
#define FACECAST_CLOSE ::close
#define FACECAST_POLL ::poll
#endif

namespace facecast {

const char* ConnectionStateName(ConnectionState state) {
  switch (state) {
    case ConnectionState::Connecting: return "Connecting";
    case ConnectionState::Connected: return "Connected";
    default: return "Disconnected";
  }
}

namespace {

constexpr int kPollMs = 100;
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::milliseconds(2000);

// Waits until `fd` is readable (or writable); false on timeout or error.
bool Wait(int fd, bool write, int timeout_ms) {
  pollfd p{};
  p.fd = fd;
  p.events = write ? POLLOUT : POLLIN;
  return FACECAST_POLL(&p, 1, timeout_ms) > 0 && (p.revents & (write ? POLLOUT : POLLIN));
}

}  // namespace

ZmtpClient::ZmtpClient() {
#ifdef _WIN32
  WSADATA data;
  WSAStartup(MAKEWORD(2, 2), &data);
#endif
}

ZmtpClient::~ZmtpClient() {
  Stop();
#ifdef _WIN32
  WSACleanup();
#endif
}

void ZmtpClient::Start(const std::string& host, uint16_t port, std::vector<std::string> topics) {
  Stop();
  host_ = host;
  port_ = port;
  topics_ = std::move(topics);
  stop_ = false;
  worker_ = std::thread(&ZmtpClient::Run, this);
}

void ZmtpClient::Stop() {
  stop_ = true;
  if (worker_.joinable()) worker_.join();
  state_ = ConnectionState::Disconnected;
}

bool ZmtpClient::TryTakeLatest(Frame& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!has_latest_) return false;
  out = std::move(latest_);
  has_latest_ = false;
  return true;
}

bool ZmtpClient::WaitTakeLatest(Frame& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!latest_ready_.wait_for(lock, timeout, [this] { return has_latest_; })) return false;
  out = std::move(latest_);
  has_latest_ = false;
  return true;
}

std::map<std::string, uint64_t> ZmtpClient::Rejections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rejections_;
}

std::string ZmtpClient::VersionError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_error_;
}

std::string ZmtpClient::LastError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

void ZmtpClient::Reject(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejections_[reason];
}

void ZmtpClient::SetError(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = version_error_.empty() ? text : version_error_;  // a version mismatch outranks the rest
}

bool ZmtpClient::Sleep(std::chrono::milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (!stop_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !stop_;
}

void ZmtpClient::Run() {
  auto backoff = kBackoffMin;
  while (!stop_) {
    state_ = ConnectionState::Connecting;
    addrinfo hints{}, *found = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    const std::string port = std::to_string(port_);
    int fd = -1;
    const bool resolved = getaddrinfo(host_.c_str(), port.c_str(), &hints, &found) == 0 && found;
    if (resolved) {
      fd = int(::socket(found->ai_family, found->ai_socktype, found->ai_protocol));
      if (fd >= 0) {
#ifdef _WIN32
        u_long nonblocking = 1;
        ioctlsocket(fd, FIONBIO, &nonblocking);
#else
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
#endif
        ::connect(fd, found->ai_addr, SocketLen(found->ai_addrlen));
        int err = 0;
        SocketLen len = sizeof(err);
        if (!Wait(fd, true, 500) || getsockopt(fd, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0 || err != 0) {
          FACECAST_CLOSE(fd);
          fd = -1;
        }
      }
      freeaddrinfo(found);
    } else {
      SetError("cannot resolve " + host_);
    }
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
      const bool handshaken = Session(fd);
      FACECAST_CLOSE(fd);
      if (handshaken) backoff = kBackoffMin;
    } else if (resolved) {  // after a lost connection too: the old "disconnected" text is stale now
      SetError("cannot connect to " + host_ + ":" + port + "; is 'facecast run' publishing there?");
    }
    state_ = ConnectionState::Disconnected;
    if (!Sleep(backoff)) break;
    backoff = (std::min)(backoff * 2, kBackoffMax);  // parenthesized: immune to a min macro
  }
  state_ = ConnectionState::Disconnected;
}

// One connection: greeting, READY, subscriptions, then messages until an error or Stop().
// Returns true if the handshake completed.
bool ZmtpClient::Session(int fd) {
  auto send_all = [&](const uint8_t* data, size_t size) {
    while (size > 0 && !stop_) {
      if (!Wait(fd, true, kPollMs)) continue;
      const auto sent = ::send(fd, reinterpret_cast<const char*>(data), int(size), 0);
      if (sent <= 0) return false;
      data += sent;
      size -= size_t(sent);
    }
    return size == 0;
  };
  auto recv_all = [&](uint8_t* data, size_t size) {
    while (size > 0 && !stop_) {
      if (!Wait(fd, false, kPollMs)) continue;
      const auto got = ::recv(fd, reinterpret_cast<char*>(data), int((std::min)(size, size_t(1) << 20)), 0);
      if (got <= 0) return false;
      data += got;
      size -= size_t(got);
    }
    return size == 0;
  };
  // Reads one frame: flags and body. Returns false on a socket or size error.
  auto read_frame = [&](uint8_t& flags, std::vector<uint8_t>& body) {
    if (!recv_all(&flags, 1)) return false;
    uint64_t size = 0;
    if (flags & 0x02) {
      uint8_t b[8];
      if (!recv_all(b, 8)) return false;
      for (uint8_t x : b) size = (size << 8) | x;
    } else {
      uint8_t b;
      if (!recv_all(&b, 1)) return false;
      size = b;
    }
    if (size > kMaxMessageBytes) {
      SetError("publisher sent a frame over 64 MiB; reconnecting");
      return false;
    }
    body.resize(size_t(size));
    return size == 0 || recv_all(body.data(), body.size());
  };
  auto send_frame = [&](uint8_t flags, const std::vector<uint8_t>& body) {
    std::vector<uint8_t> out{flags, uint8_t(body.size())};  // all our frames are short
    out.insert(out.end(), body.begin(), body.end());
    return send_all(out.data(), out.size());
  };

  // Greeting: signature, version 3.0 (subscriptions are then sent as messages), NULL, client.
  uint8_t greeting[64] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0};
  std::memcpy(greeting + 12, "NULL", 4);
  uint8_t peer[64];
  if (!send_all(greeting, 64) || !recv_all(peer, 64)) return false;
  if (peer[0] != 0xFF || peer[9] != 0x7F || peer[10] < 3) {
    SetError("the peer is not a ZMTP 3 publisher");
    return false;
  }
  // READY command with the property Socket-Type = SUB.
  static const char kReady[] = "\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB";
  const std::vector<uint8_t> ready(kReady, kReady + sizeof(kReady) - 1);
  if (!send_frame(0x04, ready)) return false;
  uint8_t flags = 0;
  std::vector<uint8_t> body;
  if (!read_frame(flags, body) || !(flags & 0x04) || body.size() < 6 || std::memcmp(body.data(), "\x05READY", 6) != 0) {
    SetError("the peer did not complete the ZMTP handshake");
    return false;
  }
  for (const auto& topic : topics_) {
    std::vector<uint8_t> sub{1};
    sub.insert(sub.end(), topic.begin(), topic.end());
    if (!send_frame(0x00, sub)) return false;
  }
  state_ = ConnectionState::Connected;
  SetError("");

  std::vector<std::vector<uint8_t>> parts;
  size_t total = 0;
  while (!stop_) {
    if (!read_frame(flags, body)) {
      if (!stop_ && LastError().empty()) SetError("disconnected from " + host_ + "; reconnecting");
      return true;
    }
    if (flags & 0x04) continue;  // commands (PING, ...) need no answer from a subscriber
    total += body.size();
    if (total > kMaxMessageBytes) {
      SetError("publisher sent a message over 64 MiB; reconnecting");
      return true;
    }
    parts.push_back(std::move(body));
    body = {};
    if (flags & 0x01) continue;  // more parts follow
    total = 0;
    if (parts.size() != 3) {
      Reject("frame-count");
      parts.clear();
      continue;
    }
    Frame frame;
    DecodeResult result = DecodeMessage(parts[0], parts[1], std::move(parts[2]), frame);
    parts.clear();
    if (result.status == DecodeStatus::Ok) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        latest_ = std::move(frame);
        has_latest_ = true;
      }
      latest_ready_.notify_one();
    } else {
      Reject(result.reason);
      if (result.status == DecodeStatus::NewerVersion) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (version_error_.empty()) version_error_ = result.message;
        last_error_ = result.message;
      }
    }
  }
  return true;
}

}  // namespace facecast
