// facecast bridge protocol v1 decoder: plain C++17, no Unreal types.
// Must match bridge/PROTOCOL.md and the Python reference decoder bridge/protocol.py.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace facecast {

constexpr int kProtocolMajor = 1;
constexpr int kNumArkit = 52;
constexpr int kFlameDim = 55;
constexpr size_t kMaxHeaderBytes = 65536;
constexpr uint32_t kMaxSidePx = 16384;   // the largest width or height accepted (as bridge/protocol.py)
constexpr const char* kTopicParams = "facecast.params";
constexpr const char* kTopicFrame = "facecast.frame";

// The 52 ARKit blendshape names in protocol order (Unreal's EARFaceBlendShape order).
extern const char* const kArkitNames[kNumArkit];

enum class PixelFormat { None, Rgb8, Rgba8, Bgra8, Jpeg };
const char* PixelFormatName(PixelFormat format);
int BytesPerPixel(PixelFormat format);  // 0 for None and Jpeg

// One decoded, validated message. Timestamps are wall-clock ns since the Unix epoch.
struct Frame {
  std::string topic;
  uint64_t seq = 0;
  int64_t t_capture_ns = 0, t_render_ns = 0, t_send_ns = 0;
  uint32_t width = 0, height = 0, stride = 0;
  PixelFormat format = PixelFormat::None;
  std::string identity, source;
  bool valid = true;
  std::array<float, kNumArkit> arkit{};   // in [0, 1]
  bool has_flame = false;
  std::array<float, kFlameDim> flame{};
  bool has_head = false;
  std::array<float, 3> head_rad{};        // yaw, pitch, roll
  bool has_eyes = false;
  std::array<float, 6> eyes_rad{};        // left eye yaw, pitch, roll, then the right eye's
  bool repeated = false;
  std::string mouth = "tracker";          // what drove the mouth: tracker, audio or mixed (protocol 1.1)
  bool has_crc32 = false;                 // true: the payload matched the header's CRC-32
  std::vector<uint8_t> payload;           // rows top-down, `stride` bytes each
};

enum class DecodeStatus { Ok, Rejected, NewerVersion };

struct DecodeResult {
  DecodeStatus status = DecodeStatus::Ok;
  std::string reason;   // short stable label for counting, e.g. "not-msgpack"
  std::string message;  // for people
};

// Decode one three-frame message. On success `out` holds the frame (the payload is moved in).
DecodeResult DecodeMessage(const std::vector<uint8_t>& topic, const std::vector<uint8_t>& header,
                           std::vector<uint8_t>&& payload, Frame& out);

// CRC-32 (IEEE 802.3, as zlib.crc32).
uint32_t Crc32(const uint8_t* data, size_t size);

}  // namespace facecast
