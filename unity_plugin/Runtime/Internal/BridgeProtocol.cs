// facecast bridge protocol v1 decoder. Must match bridge/PROTOCOL.md and bridge/protocol.py.
using System;
using System.Collections.Generic;
using System.Text;

namespace Facecast.Internal
{
    public enum PixelFormat { None, Rgb8, Rgba8, Bgra8, Jpeg }

    /// <summary>One decoded, validated message. Times are wall-clock ns since the Unix epoch;
    /// the payload's rows are top-down, Stride bytes each.</summary>
    public sealed class FacecastMessage
    {
        public string Topic;
        public ulong Seq;
        public long TCaptureNs, TRenderNs, TSendNs;
        public int Width, Height, Stride;
        public PixelFormat Format;
        public string Identity, Source;
        public bool Valid;
        public float[] Arkit;    // 52 values in [0, 1], ArkitNames order
        public float[] Flame;    // 55 values or null
        public float[] HeadRad;  // yaw, pitch, roll or null
        public float[] EyesRad;  // left eye yaw, pitch, roll, then the right eye's; or null
        public bool Repeated;
        public string Mouth = "tracker";  // what drove the mouth: tracker, audio or mixed (protocol 1.1)
        public bool? CrcOk;      // true when the header carried a CRC-32 and it matched
        public byte[] Payload;
    }

    public static class BridgeProtocol
    {
        public const int Major = 1;
        public const string TopicParams = "facecast.params";
        public const string TopicFrame = "facecast.frame";
        const int MaxHeaderBytes = 65536;
        const ulong MaxSidePx = 16384;

        sealed class Reject : Exception
        {
            public readonly string Reason;
            public Reject(string reason, string message) : base(message) { Reason = reason; }
        }

        /// <summary>Decodes one three-frame message. On failure returns false with a short reason
        /// label; versionError is true (with a message for people) for a newer major version.</summary>
        public static bool TryDecode(byte[] topic, byte[] header, byte[] payload, out FacecastMessage msg,
                                     out string rejectReason, out string versionError)
        {
            msg = null;
            rejectReason = null;
            versionError = null;
            try
            {
                msg = Decode(topic, header, payload, out versionError);
                if (versionError != null) rejectReason = "version";
                return msg != null;
            }
            catch (Reject r) { rejectReason = r.Reason; }
            catch (MsgPackException) { rejectReason = "not-msgpack"; }
            return false;
        }

        static FacecastMessage Decode(byte[] topic, byte[] header, byte[] payload, out string versionError)
        {
            versionError = null;
            var topicStr = Encoding.ASCII.GetString(topic);
            if (topicStr != TopicParams && topicStr != TopicFrame) throw new Reject("unknown-topic", topicStr);
            if (header.Length > MaxHeaderBytes) throw new Reject("header-too-large", "header over 65536 bytes");
            var reader = new MsgPackReader(header);
            var h = reader.ReadHeader();
            if (!reader.AtEnd) throw new MsgPackException("bytes after the header");

            // The major version alone decides first (PROTOCOL.md 3.1): a newer major may lack any other key.
            var major = UInt(h, "v", ulong.MaxValue);
            if (major > Major)
            {
                MsgValue minorValue;
                var minor = h.TryGetValue("v_minor", out minorValue) && minorValue.Kind == MsgKind.UInt
                    ? minorValue.UInt.ToString() : "?";
                versionError = "publisher speaks bridge protocol " + major + ".x (" + major + "." + minor +
                               "), this client implements " + Major + ".x: update the facecast Unity package";
                return null;
            }
            if (major < Major) throw new Reject("version", "unknown protocol version " + major);
            UInt(h, "v_minor", ulong.MaxValue);  // required; any minor of this major is accepted

            PixelFormat format;
            switch (Str(h, "format"))
            {
                case "none": format = PixelFormat.None; break;
                case "rgb8": format = PixelFormat.Rgb8; break;
                case "rgba8": format = PixelFormat.Rgba8; break;
                case "bgra8": format = PixelFormat.Bgra8; break;
                case "jpeg": format = PixelFormat.Jpeg; break;
                default: throw new Reject("unknown-format", "unknown format");
            }
            var width = UInt(h, "width", MaxSidePx);
            var height = UInt(h, "height", MaxSidePx);
            var stride = UInt(h, "stride", MaxSidePx * 8);
            if (Str(h, "rows") != "top-down") throw new Reject("unknown-rows", "unknown row order");

            var msg = new FacecastMessage { Topic = topicStr, Format = format, Width = (int)width, Height = (int)height, Stride = (int)stride };
            msg.Arkit = FloatBin(h, "arkit", ArkitNames.Count, false);
            for (var i = 0; i < msg.Arkit.Length; i++) msg.Arkit[i] = Math.Max(0f, Math.Min(1f, msg.Arkit[i]));

            var n = (ulong)payload.Length;
            if (format == PixelFormat.None)
            {
                if (n != 0) throw new Reject("bad-payload", "format none with a payload");
            }
            else
            {
                if (width == 0 || height == 0) throw new Reject("bad-size", "picture without a size");
                if (format == PixelFormat.Jpeg)
                {
                    if (n == 0) throw new Reject("bad-payload", "empty JPEG payload");
                }
                else
                {
                    var bpp = format == PixelFormat.Rgb8 ? 3UL : 4UL;
                    if (stride < width * bpp) throw new Reject("bad-stride", "stride below width");
                    if (n != stride * height) throw new Reject("bad-payload", "payload length does not match the header");
                }
            }
            if (h.ContainsKey("crc32"))
            {
                var crc = UInt(h, "crc32", uint.MaxValue);
                if (Crc32.Compute(payload, 0, payload.Length) != (uint)crc) throw new Reject("crc32", "payload checksum mismatch");
                msg.CrcOk = true;
            }

            msg.Seq = UInt(h, "seq", ulong.MaxValue);
            msg.TCaptureNs = Int(h, "t_capture_ns");
            msg.TRenderNs = Int(h, "t_render_ns");
            msg.TSendNs = Int(h, "t_send_ns");
            msg.Identity = Str(h, "identity");
            msg.Source = Str(h, "source");
            msg.Valid = Bool(h, "valid");
            msg.Flame = FloatBin(h, "flame", 55, true);
            msg.HeadRad = Numbers(h, "head_rad", 3);
            msg.EyesRad = h.ContainsKey("eyes_rad") ? Numbers(h, "eyes_rad", 6) : null;  // optional key
            MsgValue repeated;
            if (h.TryGetValue("repeated", out repeated))
            {
                if (repeated.Kind != MsgKind.Bool) throw new Reject("wrong-type", "'repeated' is not a bool");
                msg.Repeated = repeated.Bool;
            }
            if (h.ContainsKey("mouth")) msg.Mouth = Str(h, "mouth");  // optional key (1.1)
            msg.Payload = payload;
            return msg;
        }

        static MsgValue Get(Dictionary<string, MsgValue> h, string key)
        {
            MsgValue v;
            if (!h.TryGetValue(key, out v)) throw new Reject("missing-key", "header has no '" + key + "'");
            return v;
        }

        static ulong UInt(Dictionary<string, MsgValue> h, string key, ulong limit)
        {
            var v = Get(h, key);
            if (!v.IsInteger) throw new Reject("wrong-type", "'" + key + "' is not an integer");
            if (v.Kind == MsgKind.Int && v.Int < 0) throw new Reject("out-of-range", "'" + key + "' < 0");
            var u = v.Kind == MsgKind.Int ? (ulong)v.Int : v.UInt;
            if (u > limit) throw new Reject("out-of-range", "'" + key + "' too large");
            return u;
        }

        static long Int(Dictionary<string, MsgValue> h, string key)
        {
            var v = Get(h, key);
            if (!v.IsInteger) throw new Reject("wrong-type", "'" + key + "' is not an integer");
            return v.Kind == MsgKind.Int ? v.Int : (long)v.UInt;
        }

        static string Str(Dictionary<string, MsgValue> h, string key)
        {
            var v = Get(h, key);
            if (v.Kind != MsgKind.Str) throw new Reject("wrong-type", "'" + key + "' is not a string");
            return v.Str;
        }

        static bool Bool(Dictionary<string, MsgValue> h, string key)
        {
            var v = Get(h, key);
            if (v.Kind != MsgKind.Bool) throw new Reject("wrong-type", "'" + key + "' is not a bool");
            return v.Bool;
        }

        static float[] FloatBin(Dictionary<string, MsgValue> h, string key, int count, bool nullable)
        {
            var v = Get(h, key);
            if (v.Kind == MsgKind.Nil && nullable) return null;
            if (v.Kind == MsgKind.Nil) throw new Reject("missing-key", "'" + key + "' is nil");
            if (v.Kind != MsgKind.Bin) throw new Reject("wrong-type", "'" + key + "' is not bin");
            if (v.Bin.Length != count * 4) throw new Reject("bad-array", "'" + key + "' has the wrong length");
            var values = new float[count];
            for (var i = 0; i < count; i++)
            {
                if (!BitConverter.IsLittleEndian) System.Array.Reverse(v.Bin, 4 * i, 4);
                var f = BitConverter.ToSingle(v.Bin, 4 * i);
                if (float.IsNaN(f) || float.IsInfinity(f)) throw new Reject("not-finite", "'" + key + "' holds NaN or infinity");
                values[i] = f;
            }
            return values;
        }

        static float[] Numbers(Dictionary<string, MsgValue> h, string key, int count)
        {
            var v = Get(h, key);
            if (v.Kind == MsgKind.Nil) return null;
            if (v.Kind != MsgKind.Array) throw new Reject("wrong-type", "'" + key + "' is not an array");
            if (v.Items.Count != count) throw new Reject("bad-array", "'" + key + "' must be " + count + " numbers");
            var values = new float[count];
            for (var i = 0; i < count; i++)
            {
                if (!v.Items[i].IsNumber) throw new Reject("bad-array", "'" + key + "' must be numbers");
                var f = (float)v.Items[i].AsDouble;  // narrowed first: a double too large for float is infinite
                if (float.IsNaN(f) || float.IsInfinity(f)) throw new Reject("not-finite", "'" + key + "' holds NaN or infinity");
                values[i] = f;
            }
            return values;
        }
    }
}
