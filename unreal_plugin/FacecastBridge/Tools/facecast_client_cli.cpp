// Command-line harness for the plugin's transport core: prints one JSON object per line.
// Used by tests/test_clients.py and bench/clients.py.
//   facecast_client_cli --connect tcp://HOST:PORT [--count N] [--timeout S] [--params-only]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <array>
#include <map>
#include <string>
#include <thread>

#include "FacecastZmtpClient.h"

using namespace facecast;

static std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

// A float as JSON, with enough digits to give back the same float32.
static std::string Num(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", double(v));
  return buf;
}

template <size_t N>
static std::string Array(const std::array<float, N>& values, bool present) {
  if (!present) return "null";
  std::string out = "[";
  for (size_t i = 0; i < N; ++i) out += (i ? "," : "") + Num(values[i]);
  return out + "]";
}

// Every decoded field of `frame`, as JSON members (tests compare each with what the encoder sent).
static std::string Fields(const Frame& frame) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "\"t_capture_ns\":%lld,\"t_render_ns\":%lld,\"t_send_ns\":%lld,\"valid\":%s,\"repeated\":%s,"
                "\"payload_crc32\":%lu,",
                static_cast<long long>(frame.t_capture_ns), static_cast<long long>(frame.t_render_ns),
                static_cast<long long>(frame.t_send_ns), frame.valid ? "true" : "false",
                frame.repeated ? "true" : "false",
                static_cast<unsigned long>(Crc32(frame.payload.data(), frame.payload.size())));
  return std::string(buf) + "\"identity\":\"" + Escape(frame.identity) + "\",\"source\":\"" + Escape(frame.source) +
         "\",\"arkit\":" + Array(frame.arkit, true) + ",\"flame\":" + Array(frame.flame, frame.has_flame) +
         ",\"head_rad\":" + Array(frame.head_rad, frame.has_head) + ",\"eyes_rad\":" +
         Array(frame.eyes_rad, frame.has_eyes) + ",\"mouth\":\"" + Escape(frame.mouth) + "\"";
}

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:5570";
  long count = 100;
  double timeout_s = 10;
  bool params_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--connect" && i + 1 < argc) endpoint = argv[++i];
    else if (arg == "--count" && i + 1 < argc) count = std::atol(argv[++i]);
    else if (arg == "--timeout" && i + 1 < argc) timeout_s = std::atof(argv[++i]);
    else if (arg == "--params-only") params_only = true;
    else { std::fprintf(stderr, "usage: %s --connect tcp://HOST:PORT [--count N] [--timeout S] [--params-only]\n", argv[0]); return 2; }
  }
  const auto colon = endpoint.rfind(':');
  if (endpoint.rfind("tcp://", 0) != 0 || colon == std::string::npos || colon < 6) {
    std::fprintf(stderr, "endpoint must be tcp://HOST:PORT\n");
    return 2;
  }
  const std::string host = endpoint.substr(6, colon - 6);
  const int port = std::atoi(endpoint.c_str() + colon + 1);

  ZmtpClient client;
  client.Start(host, uint16_t(port), params_only ? std::vector<std::string>{ZmtpClient::kTopicParams}
                                                 : std::vector<std::string>{ZmtpClient::kTopicFrame});
  auto state = ConnectionState::Disconnected;
  std::map<std::string, uint64_t> seen;
  bool version_reported = false;
  long frames = 0;
  auto last_activity = std::chrono::steady_clock::now();
  Frame frame;
  while (frames < count) {
    const auto now_state = client.State();
    if (now_state != state && now_state != ConnectionState::Connecting) {
      std::printf("{\"event\":\"%s\"}\n", now_state == ConnectionState::Connected ? "connected" : "disconnected");
      std::fflush(stdout);
    }
    if (now_state != ConnectionState::Connecting) state = now_state;
    for (const auto& [reason, n] : client.Rejections()) {
      if (n > seen[reason]) {
        seen[reason] = n;
        std::printf("{\"event\":\"rejected\",\"reason\":\"%s\"}\n", Escape(reason).c_str());
        std::fflush(stdout);
        last_activity = std::chrono::steady_clock::now();
      }
    }
    if (!version_reported && !client.VersionError().empty()) {
      version_reported = true;
      std::printf("{\"event\":\"version_error\",\"message\":\"%s\"}\n", Escape(client.VersionError()).c_str());
      std::fflush(stdout);
    }
    if (client.TryTakeLatest(frame)) {
      const auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count();
      double arkit_sum = 0;
      for (float w : frame.arkit) arkit_sum += w;
      std::printf("{\"event\":\"frame\",\"seq\":%llu,\"topic\":\"%s\",\"width\":%u,\"height\":%u,\"stride\":%u,"
                  "\"format\":\"%s\",\"crc_ok\":%s,\"latency_ms\":%.3f,\"payload_bytes\":%zu,\"arkit_sum\":%.4f,%s}\n",
                  static_cast<unsigned long long>(frame.seq), frame.topic.c_str(), frame.width, frame.height,
                  frame.stride, PixelFormatName(frame.format), frame.has_crc32 ? "true" : "null",
                  double(wall_ns - frame.t_capture_ns) / 1e6, frame.payload.size(), arkit_sum, Fields(frame).c_str());
      std::fflush(stdout);
      ++frames;
      last_activity = std::chrono::steady_clock::now();
      continue;
    }
    if (std::chrono::steady_clock::now() - last_activity > std::chrono::duration<double>(timeout_s)) break;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  client.Stop();
  std::printf("{\"event\":\"done\",\"frames\":%ld}\n", frames);
  std::fflush(stdout);
  return 0;
}
