// Edit-mode tests of the protocol decoder, for the Unity Test Runner (see the README's "testables").
// CI runs them too, with NUnit 2.6 under Mono (Tests/Cli~/nunit.sh, tests/test_unity_nunit.py), so
// they stay in the subset both compile: no local functions (mcs), NUnit 2.6 asserts. CI also runs
// the same decoder against the real publisher, malformed messages included (tests/test_clients.py).
using System.Collections.Generic;
using System.Text;
using Facecast.Internal;
using NUnit.Framework;

namespace Facecast.Tests
{
    public sealed class BridgeProtocolTests
    {
        // A hand-packed MessagePack map with the required keys (values are small fixints/fixstrs).
        static byte[] Header(int major, string format, int width, int height, int stride)
        {
            return Header(major, format, width, height, stride, null);
        }

        // extra: one more key and its packed value (protocol 1.1's "mouth", say), or null.
        static byte[] Header(int major, string format, int width, int height, int stride, byte[][] extra)
        {
            var entries = new List<byte[]>();
            if (extra != null) entries.AddRange(extra);
            entries.Add(Str("v")); entries.Add(new[] { (byte)major });
            entries.Add(Str("v_minor")); entries.Add(new byte[] { 0 });
            entries.Add(Str("seq")); entries.Add(new byte[] { 7 });
            entries.Add(Str("t_capture_ns")); entries.Add(new byte[] { 1 });
            entries.Add(Str("t_render_ns")); entries.Add(new byte[] { 2 });
            entries.Add(Str("t_send_ns")); entries.Add(new byte[] { 3 });
            entries.Add(Str("width")); entries.Add(new[] { (byte)width });
            entries.Add(Str("height")); entries.Add(new[] { (byte)height });
            entries.Add(Str("stride")); entries.Add(new[] { (byte)stride });
            entries.Add(Str("format")); entries.Add(Str(format));
            entries.Add(Str("rows")); entries.Add(Str("top-down"));
            entries.Add(Str("identity")); entries.Add(Str(""));
            entries.Add(Str("source")); entries.Add(Str("test"));
            entries.Add(Str("valid")); entries.Add(new byte[] { 0xc3 });
            entries.Add(Str("arkit")); var arkit = new byte[2 + 208]; arkit[0] = 0xc4; arkit[1] = 208; entries.Add(arkit);
            entries.Add(Str("flame")); entries.Add(new byte[] { 0xc0 });
            entries.Add(Str("head_rad")); entries.Add(new byte[] { 0xc0 });
            entries.Add(Str("future_key")); entries.Add(new byte[] { 0x92, 1, 2 });
            var result = new List<byte> { 0xde, 0, (byte)(entries.Count / 2) };
            foreach (var e in entries) result.AddRange(e);
            return result.ToArray();
        }

        static byte[] Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            var r = new byte[b.Length + 1];
            r[0] = (byte)(0xa0 | b.Length);
            System.Array.Copy(b, 0, r, 1, b.Length);
            return r;
        }

        [Test]
        public void DecodesAPictureAndIgnoresUnknownKeys()
        {
            var ok = BridgeProtocol.TryDecode(Encoding.ASCII.GetBytes("facecast.frame"), Header(1, "rgba8", 2, 2, 8),
                                              new byte[16], out var msg, out var reason, out var version);
            Assert.IsTrue(ok, reason);
            Assert.AreEqual(7UL, msg.Seq);
            Assert.AreEqual(PixelFormat.Rgba8, msg.Format);
            Assert.IsNull(version);
        }

        [Test]
        public void ReadsWhatDroveTheMouthAndDefaultsToTheTracker()
        {
            var topic = Encoding.ASCII.GetBytes("facecast.frame");
            Assert.IsTrue(BridgeProtocol.TryDecode(topic, Header(1, "rgba8", 2, 2, 8, new[] { Str("mouth"), Str("audio") }),
                                                   new byte[16], out var msg, out var reason, out _), reason);
            Assert.AreEqual("audio", msg.Mouth);
            Assert.IsTrue(BridgeProtocol.TryDecode(topic, Header(1, "rgba8", 2, 2, 8), new byte[16], out msg, out reason, out _));
            Assert.AreEqual("tracker", msg.Mouth);  // a 1.0 publisher sends no "mouth"
            Assert.IsFalse(BridgeProtocol.TryDecode(topic, Header(1, "rgba8", 2, 2, 8, new[] { Str("mouth"), new byte[] { 3 } }),
                                                    new byte[16], out _, out reason, out _));
            Assert.AreEqual("wrong-type", reason);
        }

        [Test]
        public void RejectsANewerMajorVersionClearly()
        {
            var ok = BridgeProtocol.TryDecode(Encoding.ASCII.GetBytes("facecast.frame"), Header(2, "rgba8", 2, 2, 8),
                                              new byte[16], out _, out var reason, out var version);
            Assert.IsFalse(ok);
            Assert.AreEqual("version", reason);
            StringAssert.Contains("update", version);
        }

        [Test]
        public void RejectsGarbageAndShortPayloads()
        {
            Assert.IsFalse(BridgeProtocol.TryDecode(Encoding.ASCII.GetBytes("facecast.frame"), new byte[] { 0xc1, 1 },
                                                    new byte[0], out _, out var reason, out _));
            Assert.AreEqual("not-msgpack", reason);
            Assert.IsFalse(BridgeProtocol.TryDecode(Encoding.ASCII.GetBytes("facecast.frame"), Header(1, "rgba8", 2, 2, 8),
                                                    new byte[15], out _, out reason, out _));
            Assert.AreEqual("bad-payload", reason);
        }

        [Test]
        public void ArkitNamesAcceptEveryForm()
        {
            Assert.AreEqual(17, ArkitNames.IndexOf("JawOpen"));
            Assert.AreEqual(17, ArkitNames.IndexOf("jawOpen"));
            Assert.AreEqual(0, ArkitNames.IndexOf("eyeBlink_L"));
            Assert.AreEqual(-1, ArkitNames.IndexOf("noseWiggle"));
        }
    }
}
