// facecast bridge protocol v1 decoder. Must match bridge/PROTOCOL.md and bridge/protocol.py.
#include "FacecastProtocol.h"

#include <cmath>
#include <cstring>
#include <map>
#include <utility>

namespace facecast {

// Must match ARKIT_NAMES in engine/types.py (tests/test_clients.py checks it).
const char* const kArkitNames[kNumArkit] = {
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft",
    "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft", "MouthRight",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
    "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
    "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
    "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut"};

const char* PixelFormatName(PixelFormat format) {
  switch (format) {
    case PixelFormat::Rgb8: return "rgb8";
    case PixelFormat::Rgba8: return "rgba8";
    case PixelFormat::Bgra8: return "bgra8";
    case PixelFormat::Jpeg: return "jpeg";
    default: return "none";
  }
}

int BytesPerPixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::Rgb8: return 3;
    case PixelFormat::Rgba8:
    case PixelFormat::Bgra8: return 4;
    default: return 0;
  }
}

uint32_t Crc32(const uint8_t* data, size_t size) {
  static uint32_t table[256];
  static bool ready = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)ready;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

namespace {

// ---- A minimal MessagePack reader: values of the header, bounds-checked --------------------

struct Value {
  enum Kind { Nil, Bool, Int, UInt, Float, Str, Bin, Array, Map, Ext } kind = Nil;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string bytes;          // Str and Bin
  std::vector<Value> items;   // Array
  bool IsInteger() const { return kind == Int || kind == UInt; }
  bool IsNumber() const { return IsInteger() || kind == Float; }
  double AsDouble() const { return kind == Float ? f : kind == Int ? double(i) : double(u); }
};

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool ValidUtf8(const uint8_t* s, size_t n) {
  size_t k = 0;
  while (k < n) {
    const uint8_t c = s[k];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++k; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (n - k < len) return false;
    for (size_t j = 1; j < len; ++j) {
      if ((s[k + j] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[k + j] & 0x3f);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    k += len;
  }
  return true;
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool AtEnd() const { return p_ == end_; }

  bool Read(Value& v, int depth = 0) {
    if (depth > 16 || p_ >= end_) return false;
    const uint8_t t = *p_++;
    if (t <= 0x7f) { v.kind = Value::UInt; v.u = t; return true; }
    if (t >= 0xe0) { v.kind = Value::Int; v.i = int8_t(t); return true; }
    if ((t & 0xf0) == 0x80) return ReadMap(v, t & 0x0f, depth);
    if ((t & 0xf0) == 0x90) return ReadArray(v, t & 0x0f, depth);
    if ((t & 0xe0) == 0xa0) return ReadBytes(v, Value::Str, t & 0x1f);
    uint64_t n = 0;
    switch (t) {
      case 0xc0: v.kind = Value::Nil; return true;
      case 0xc2: v.kind = Value::Bool; v.b = false; return true;
      case 0xc3: v.kind = Value::Bool; v.b = true; return true;
      case 0xc4: return Be(1, n) && ReadBytes(v, Value::Bin, n);
      case 0xc5: return Be(2, n) && ReadBytes(v, Value::Bin, n);
      case 0xc6: return Be(4, n) && ReadBytes(v, Value::Bin, n);
      case 0xc7: return Be(1, n) && Skip(1 + n, v);
      case 0xc8: return Be(2, n) && Skip(1 + n, v);
      case 0xc9: return Be(4, n) && Skip(1 + n, v);
      case 0xca: { if (!Be(4, n)) return false; uint32_t x = uint32_t(n); float fl; std::memcpy(&fl, &x, 4);
                   v.kind = Value::Float; v.f = fl; return true; }
      case 0xcb: { if (!Be(8, n)) return false; double d; std::memcpy(&d, &n, 8);
                   v.kind = Value::Float; v.f = d; return true; }
      case 0xcc: v.kind = Value::UInt; return Be(1, v.u);
      case 0xcd: v.kind = Value::UInt; return Be(2, v.u);
      case 0xce: v.kind = Value::UInt; return Be(4, v.u);
      case 0xcf: v.kind = Value::UInt; return Be(8, v.u);
      case 0xd0: if (!Be(1, n)) return false; v.kind = Value::Int; v.i = int8_t(n); return true;
      case 0xd1: if (!Be(2, n)) return false; v.kind = Value::Int; v.i = int16_t(n); return true;
      case 0xd2: if (!Be(4, n)) return false; v.kind = Value::Int; v.i = int32_t(n); return true;
      case 0xd3: if (!Be(8, n)) return false; v.kind = Value::Int; v.i = int64_t(n); return true;
      case 0xd4: return Skip(2, v);
      case 0xd5: return Skip(3, v);
      case 0xd6: return Skip(5, v);
      case 0xd7: return Skip(9, v);
      case 0xd8: return Skip(17, v);
      case 0xd9: return Be(1, n) && ReadBytes(v, Value::Str, n);
      case 0xda: return Be(2, n) && ReadBytes(v, Value::Str, n);
      case 0xdb: return Be(4, n) && ReadBytes(v, Value::Str, n);
      case 0xdc: return Be(2, n) && ReadArray(v, n, depth);
      case 0xdd: return Be(4, n) && ReadArray(v, n, depth);
      case 0xde: return Be(2, n) && ReadMap(v, n, depth);
      case 0xdf: return Be(4, n) && ReadMap(v, n, depth);
      default: return false;  // 0xc1: never used
    }
  }

  // The top-level header map: string keys -> values.
  bool ReadHeader(std::map<std::string, Value>& out) {
    if (p_ >= end_) return false;
    uint64_t n = 0;
    const uint8_t t = *p_++;
    if ((t & 0xf0) == 0x80) n = t & 0x0f;
    else if (t == 0xde) { if (!Be(2, n)) return false; }
    else if (t == 0xdf) { if (!Be(4, n)) return false; }
    else return false;
    for (uint64_t k = 0; k < n; ++k) {
      Value key, value;
      if (!Read(key, 1) || key.kind != Value::Str || !Read(value, 1)) return false;
      out[key.bytes] = std::move(value);
    }
    return true;
  }

 private:
  bool Be(int bytes, uint64_t& out) {
    if (end_ - p_ < bytes) return false;
    out = 0;
    for (int k = 0; k < bytes; ++k) out = (out << 8) | *p_++;
    return true;
  }
  bool ReadBytes(Value& v, Value::Kind kind, uint64_t n) {
    if (uint64_t(end_ - p_) < n) return false;
    if (kind == Value::Str && !ValidUtf8(p_, size_t(n))) return false;  // as the Python decoder: not-msgpack
    v.kind = kind;
    v.bytes.assign(reinterpret_cast<const char*>(p_), size_t(n));
    p_ += n;
    return true;
  }
  bool Skip(uint64_t n, Value& v) {
    if (uint64_t(end_ - p_) < n) return false;
    p_ += n;
    v.kind = Value::Ext;
    return true;
  }
  bool ReadArray(Value& v, uint64_t n, int depth) {
    if (n > uint64_t(end_ - p_)) return false;  // each element takes at least one byte
    v.kind = Value::Array;
    v.items.resize(size_t(n));
    for (auto& item : v.items) if (!Read(item, depth + 1)) return false;
    return true;
  }
  bool ReadMap(Value& v, uint64_t n, int depth) {
    if (n > uint64_t(end_ - p_) / 2) return false;
    v.kind = Value::Map;  // nested maps are parsed (to skip them) but not kept
    for (uint64_t k = 0; k < 2 * n; ++k) { Value skipped; if (!Read(skipped, depth + 1)) return false; }
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

DecodeResult Reject(const char* reason, std::string message) {
  return DecodeResult{DecodeStatus::Rejected, reason, std::move(message)};
}

const Value* Find(const std::map<std::string, Value>& h, const char* key) {
  auto it = h.find(key);
  return it == h.end() ? nullptr : &it->second;
}

bool GetUInt(const std::map<std::string, Value>& h, const char* key, uint64_t limit, uint64_t& out,
             DecodeResult& error) {
  const Value* v = Find(h, key);
  if (!v) { error = Reject("missing-key", std::string("header has no '") + key + "'"); return false; }
  if (!v->IsInteger()) { error = Reject("wrong-type", std::string("'") + key + "' is not an integer"); return false; }
  if (v->kind == Value::Int && v->i < 0) { error = Reject("out-of-range", std::string("'") + key + "' < 0"); return false; }
  out = v->kind == Value::Int ? uint64_t(v->i) : v->u;
  if (out > limit) { error = Reject("out-of-range", std::string("'") + key + "' too large"); return false; }
  return true;
}

bool GetInt(const std::map<std::string, Value>& h, const char* key, int64_t& out, DecodeResult& error) {
  const Value* v = Find(h, key);
  if (!v) { error = Reject("missing-key", std::string("header has no '") + key + "'"); return false; }
  if (!v->IsInteger()) { error = Reject("wrong-type", std::string("'") + key + "' is not an integer"); return false; }
  out = v->kind == Value::Int ? v->i : int64_t(v->u);
  return true;
}

bool GetStr(const std::map<std::string, Value>& h, const char* key, std::string& out, DecodeResult& error) {
  const Value* v = Find(h, key);
  if (!v) { error = Reject("missing-key", std::string("header has no '") + key + "'"); return false; }
  if (v->kind != Value::Str) { error = Reject("wrong-type", std::string("'") + key + "' is not a string"); return false; }
  out = v->bytes;
  return true;
}

bool GetBool(const std::map<std::string, Value>& h, const char* key, bool& out, DecodeResult& error) {
  const Value* v = Find(h, key);
  if (!v) { error = Reject("missing-key", std::string("header has no '") + key + "'"); return false; }
  if (v->kind != Value::Bool) { error = Reject("wrong-type", std::string("'") + key + "' is not a bool"); return false; }
  out = v->b;
  return true;
}

// Little-endian float32 array stored as bin. Returns false (with error) unless present and valid;
// `present` is false for nil when `nullable`.
template <size_t N>
bool GetFloatBin(const std::map<std::string, Value>& h, const char* key, bool nullable, bool& present,
                 std::array<float, N>& out, DecodeResult& error) {
  const Value* v = Find(h, key);
  present = false;
  if (!v) { error = Reject("missing-key", std::string("header has no '") + key + "'"); return false; }
  if (v->kind == Value::Nil && nullable) return true;
  if (v->kind != Value::Bin) { error = Reject(v->kind == Value::Nil ? "missing-key" : "wrong-type", std::string("'") + key + "' is not bin"); return false; }
  if (v->bytes.size() != N * 4) { error = Reject("bad-array", std::string("'") + key + "' has the wrong length"); return false; }
  for (size_t k = 0; k < N; ++k) {
    const auto* b = reinterpret_cast<const uint8_t*>(v->bytes.data()) + 4 * k;
    uint32_t x = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
    float f;
    std::memcpy(&f, &x, 4);
    if (!std::isfinite(f)) { error = Reject("not-finite", std::string("'") + key + "' holds NaN or infinity"); return false; }
    out[k] = f;
  }
  present = true;
  return true;
}

// An array of N numbers, or nil. Narrowed to float before the finiteness check, so a
// double too large for float is rejected as the Python decoder does. `required`: the key
// must be present.
template <size_t N>
bool GetNumbers(const std::map<std::string, Value>& h, const char* key, bool required, bool& present,
                std::array<float, N>& out, DecodeResult& error) {
  present = false;
  const Value* v = Find(h, key);
  if (!v) {
    if (required) error = Reject("missing-key", std::string("header has no '") + key + "'");
    return !required;
  }
  if (v->kind == Value::Nil) return true;
  const std::string must = std::string("'") + key + "' must be " + std::to_string(N) + " numbers";
  if (v->kind != Value::Array) { error = Reject("wrong-type", std::string("'") + key + "' is not an array"); return false; }
  if (v->items.size() != N) { error = Reject("bad-array", must); return false; }
  for (size_t k = 0; k < N; ++k) {
    if (!v->items[k].IsNumber()) { error = Reject("bad-array", must); return false; }
    const float f = float(v->items[k].AsDouble());
    if (!std::isfinite(f)) { error = Reject("not-finite", std::string("'") + key + "' holds NaN or infinity"); return false; }
    out[k] = f;
  }
  present = true;
  return true;
}

}  // namespace

DecodeResult DecodeMessage(const std::vector<uint8_t>& topic, const std::vector<uint8_t>& header,
                           std::vector<uint8_t>&& payload, Frame& out) {
  const std::string topic_str(topic.begin(), topic.end());
  if (topic_str != kTopicParams && topic_str != kTopicFrame)
    return Reject("unknown-topic", "unknown topic");
  if (header.size() > kMaxHeaderBytes) return Reject("header-too-large", "header over 65536 bytes");

  std::map<std::string, Value> h;
  Reader reader(header.data(), header.size());
  if (!reader.ReadHeader(h) || !reader.AtEnd()) return Reject("not-msgpack", "header is not a MessagePack map");

  DecodeResult error;
  uint64_t major = 0, minor = 0;
  // The major version alone decides first (PROTOCOL.md 3.1): a newer major may lack any other key.
  if (!GetUInt(h, "v", UINT64_MAX, major, error)) return error;
  if (major > uint64_t(kProtocolMajor)) {
    const Value* v_minor = Find(h, "v_minor");
    const std::string version = std::to_string(major) + "." +
                                (v_minor && v_minor->kind == Value::UInt ? std::to_string(v_minor->u) : "?");
    return DecodeResult{DecodeStatus::NewerVersion, "version",
                        "publisher speaks bridge protocol " + std::to_string(major) + ".x (" + version +
                            "), this client implements " + std::to_string(kProtocolMajor) +
                            ".x: update the facecast Unreal plugin"};
  }
  if (major < uint64_t(kProtocolMajor)) return Reject("version", "unknown protocol version " + std::to_string(major));
  if (!GetUInt(h, "v_minor", UINT64_MAX, minor, error)) return error;

  std::string format_name, rows;
  uint64_t width = 0, height = 0, stride = 0, seq = 0;
  if (!GetStr(h, "format", format_name, error)) return error;
  PixelFormat format;
  if (format_name == "none") format = PixelFormat::None;
  else if (format_name == "rgb8") format = PixelFormat::Rgb8;
  else if (format_name == "rgba8") format = PixelFormat::Rgba8;
  else if (format_name == "bgra8") format = PixelFormat::Bgra8;
  else if (format_name == "jpeg") format = PixelFormat::Jpeg;
  else return Reject("unknown-format", "unknown format");
  if (!GetUInt(h, "width", kMaxSidePx, width, error) || !GetUInt(h, "height", kMaxSidePx, height, error) ||
      !GetUInt(h, "stride", uint64_t(kMaxSidePx) * 8, stride, error) || !GetStr(h, "rows", rows, error))
    return error;
  if (rows != "top-down") return Reject("unknown-rows", "unknown row order");

  Frame f;
  bool present = false;
  if (!GetFloatBin(h, "arkit", false, present, f.arkit, error)) return error;
  for (auto& w : f.arkit) w = w < 0.f ? 0.f : (w > 1.f ? 1.f : w);

  // Payload checks (PROTOCOL.md 2.4).
  const size_t n = payload.size();
  if (format == PixelFormat::None) {
    if (n) return Reject("bad-payload", "format none with a payload");
  } else {
    if (!width || !height) return Reject("bad-size", "picture without a size");
    if (format == PixelFormat::Jpeg) {
      if (!n) return Reject("bad-payload", "empty JPEG payload");
    } else {
      if (stride < width * uint64_t(BytesPerPixel(format))) return Reject("bad-stride", "stride below width");
      if (n != stride * height) return Reject("bad-payload", "payload length does not match the header");
    }
  }
  if (const Value* crc = Find(h, "crc32")) {
    uint64_t expected = 0;
    if (!GetUInt(h, "crc32", 0xFFFFFFFFu, expected, error)) return error;
    if (Crc32(payload.data(), payload.size()) != uint32_t(expected)) return Reject("crc32", "payload checksum mismatch");
    (void)crc;
    f.has_crc32 = true;
  }

  if (!GetUInt(h, "seq", UINT64_MAX, seq, error) || !GetInt(h, "t_capture_ns", f.t_capture_ns, error) ||
      !GetInt(h, "t_render_ns", f.t_render_ns, error) || !GetInt(h, "t_send_ns", f.t_send_ns, error) ||
      !GetStr(h, "identity", f.identity, error) || !GetStr(h, "source", f.source, error) ||
      !GetBool(h, "valid", f.valid, error))
    return error;
  if (!GetFloatBin(h, "flame", true, f.has_flame, f.flame, error)) return error;
  if (!GetNumbers(h, "head_rad", true, f.has_head, f.head_rad, error) ||
      !GetNumbers(h, "eyes_rad", false, f.has_eyes, f.eyes_rad, error))
    return error;
  if (const Value* repeated = Find(h, "repeated")) {
    if (repeated->kind != Value::Bool) return Reject("wrong-type", "'repeated' is not a bool");
    f.repeated = repeated->b;
  }
  if (Find(h, "mouth") && !GetStr(h, "mouth", f.mouth, error)) return error;  // optional key (1.1)
  f.topic = topic_str;
  f.seq = seq;
  f.width = uint32_t(width);
  f.height = uint32_t(height);
  f.stride = uint32_t(stride);
  f.format = format;
  f.payload = std::move(payload);
  out = std::move(f);
  return DecodeResult{};
}

}  // namespace facecast
