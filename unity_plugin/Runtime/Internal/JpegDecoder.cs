// A small baseline JPEG decoder (JFIF: 8-bit, Huffman, sequential; grayscale or YCbCr with any
// sampling factors; restart intervals), so that JPEG payloads are decoded on the worker thread
// instead of Unity's main thread. Progressive and arithmetic-coded JPEGs are rejected.
using System;

namespace Facecast.Internal
{
    public sealed class JpegException : Exception
    {
        public JpegException(string message) : base(message) { }
    }

    public static class JpegDecoder
    {
        static readonly int[] ZigZag =
        {
            0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
            28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
            54, 47, 55, 62, 63,
        };

        static readonly float[] IdctCos = BuildCos();

        static float[] BuildCos()
        {
            var c = new float[64];
            for (var x = 0; x < 8; x++)
                for (var u = 0; u < 8; u++)
                    c[x * 8 + u] = (float)((u == 0 ? Math.Sqrt(0.5) : 1.0) * Math.Cos((2 * x + 1) * u * Math.PI / 16));
            return c;
        }

        sealed class Huffman
        {
            public readonly int[] MaxCode = new int[18];
            public readonly int[] ValPtr = new int[17];
            public readonly int[] MinCode = new int[17];
            public byte[] Values;
        }

        sealed class Component
        {
            public int Id, H, V, Tq, Td, Ta, BlocksW, BlocksH, Pred;
            public byte[] Pixels; // BlocksW*8 x BlocksH*8
        }

        sealed class BitReader
        {
            readonly byte[] _d;
            public int Pos;
            uint _buf;
            int _count;
            public BitReader(byte[] d, int pos) { _d = d; Pos = pos; }

            void Fill()
            {
                while (_count <= 24)
                {
                    uint b = 0;
                    if (Pos < _d.Length)
                    {
                        b = _d[Pos];
                        if (b == 0xFF)
                        {
                            var next = Pos + 1 < _d.Length ? _d[Pos + 1] : 0;
                            if (next == 0) Pos += 2;
                            else b = 0; // a marker: feed zeros, leave Pos on it
                        }
                        else Pos++;
                    }
                    else if (_count == 0) throw new JpegException("truncated scan");
                    _buf |= b << (24 - _count);
                    _count += 8;
                }
            }

            public int Peek(int n)
            {
                if (_count < n) Fill();
                return (int)(_buf >> (32 - n));
            }

            public void Skip(int n)
            {
                _buf <<= n;
                _count -= n;
            }

            public int Bit()
            {
                var v = Peek(1);
                Skip(1);
                return v;
            }

            public int Bits(int n)
            {
                if (n == 0) return 0;
                var v = Peek(n);
                Skip(n);
                return v;
            }

            public void Reset() { _buf = 0; _count = 0; }
        }

        /// <summary>Decodes a baseline JPEG to tightly packed RGB24 rows, top row first.</summary>
        public static byte[] DecodeRgb(byte[] data, out int width, out int height)
        {
            var qt = new int[4][];
            var dc = new Huffman[4];
            var ac = new Huffman[4];
            Component[] comps = null;
            width = height = 0;
            int restart = 0, pos = 2, hmax = 1, vmax = 1;
            if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) throw new JpegException("not a JPEG");
            while (pos + 4 <= data.Length)
            {
                if (data[pos] != 0xFF) throw new JpegException("bad marker");
                var marker = data[pos + 1];
                if (marker == 0xD9) break;
                var len = (data[pos + 2] << 8) | data[pos + 3];
                var seg = pos + 4;
                var end = pos + 2 + len;
                if (len < 2 || end > data.Length) throw new JpegException("truncated segment");
                switch (marker)
                {
                    case 0xDB:
                        for (var p = seg; p < end;)
                        {
                            var pq = data[p] >> 4;
                            var tq = data[p] & 15;
                            if (tq > 3) throw new JpegException("bad table id");
                            p++;
                            var table = new int[64];
                            for (var i = 0; i < 64; i++)
                            {
                                if (p + (pq == 1 ? 2 : 1) > end) throw new JpegException("truncated table");
                                table[ZigZag[i]] = pq == 0 ? data[p++] : (data[p++] << 8) | data[p++];
                            }
                            qt[tq] = table;
                        }
                        break;
                    case 0xC4:
                        for (var p = seg; p < end;)
                        {
                            var tc = data[p] >> 4;
                            var th = data[p] & 15;
                            if (th > 3 || p + 17 > end) throw new JpegException("bad Huffman table");
                            var counts = new int[17];
                            var total = 0;
                            for (var i = 1; i <= 16; i++) { counts[i] = data[p + i]; total += counts[i]; }
                            p += 17;
                            if (p + total > end) throw new JpegException("truncated Huffman table");
                            var h = new Huffman { Values = new byte[total] };
                            Buffer.BlockCopy(data, p, h.Values, 0, total);
                            p += total;
                            int code = 0, k = 0;
                            for (var l = 1; l <= 16; l++)
                            {
                                h.ValPtr[l] = k;
                                h.MinCode[l] = code;
                                code += counts[l];
                                k += counts[l];
                                h.MaxCode[l] = counts[l] > 0 ? code - 1 : -1;
                                code <<= 1;
                            }
                            h.MaxCode[17] = int.MaxValue;
                            if (tc == 0) dc[th] = h; else ac[th] = h;
                        }
                        break;
                    case 0xC0:
                    case 0xC1:
                        height = (data[seg + 1] << 8) | data[seg + 2];
                        width = (data[seg + 3] << 8) | data[seg + 4];
                        var nc = data[seg + 5];
                        if (data[seg] != 8 || width == 0 || height == 0 || (nc != 1 && nc != 3)) throw new JpegException("unsupported frame");
                        comps = new Component[nc];
                        for (var i = 0; i < nc; i++)
                        {
                            var b = seg + 6 + 3 * i;
                            comps[i] = new Component { Id = data[b], H = data[b + 1] >> 4, V = data[b + 1] & 15, Tq = data[b + 2] & 3 };
                            if (comps[i].H < 1 || comps[i].V < 1 || comps[i].H > 4 || comps[i].V > 4) throw new JpegException("bad sampling");
                            hmax = Math.Max(hmax, comps[i].H);
                            vmax = Math.Max(vmax, comps[i].V);
                        }
                        break;
                    case 0xC2:
                    case 0xC3:
                    case 0xC9:
                    case 0xCA:
                        throw new JpegException("progressive or arithmetic JPEG is not supported");
                    case 0xDD:
                        restart = (data[seg] << 8) | data[seg + 1];
                        break;
                    case 0xDA:
                        if (comps == null) throw new JpegException("scan before frame header");
                        var ns = data[seg];
                        for (var i = 0; i < ns; i++)
                        {
                            var id = data[seg + 1 + 2 * i];
                            var tables = data[seg + 2 + 2 * i];
                            foreach (var c in comps)
                                if (c.Id == id) { c.Td = tables >> 4 & 3; c.Ta = tables & 3; }
                        }
                        pos = DecodeScan(data, end, comps, qt, dc, ac, restart, width, height, hmax, vmax);
                        continue;
                }
                pos = end;
            }
            if (comps == null || comps[0].Pixels == null) throw new JpegException("no image data");
            return ToRgb(comps, width, height, hmax, vmax);
        }

        static int Decode(BitReader r, Huffman h)
        {
            if (h == null) throw new JpegException("missing Huffman table");
            var code = r.Bit();
            var l = 1;
            while (code > h.MaxCode[l])
            {
                code = (code << 1) | r.Bit();
                if (++l > 16) throw new JpegException("bad Huffman code");
            }
            return h.Values[h.ValPtr[l] + code - h.MinCode[l]];
        }

        static int Extend(int v, int t) { return v < (1 << (t - 1)) ? v - (1 << t) + 1 : v; }

        static int DecodeScan(byte[] data, int pos, Component[] comps, int[][] qt, Huffman[] dc, Huffman[] ac,
                              int restart, int width, int height, int hmax, int vmax)
        {
            var mcux = (width + 8 * hmax - 1) / (8 * hmax);
            var mcuy = (height + 8 * vmax - 1) / (8 * vmax);
            foreach (var c in comps)
            {
                c.BlocksW = mcux * c.H;
                c.BlocksH = mcuy * c.V;
                c.Pixels = new byte[c.BlocksW * 8 * c.BlocksH * 8];
                c.Pred = 0;
                if (qt[c.Tq] == null) throw new JpegException("missing quantisation table");
            }
            var r = new BitReader(data, pos);
            var block = new float[64];
            var tmp = new float[64];
            var mcus = 0;
            for (var my = 0; my < mcuy; my++)
                for (var mx = 0; mx < mcux; mx++)
                {
                    if (restart > 0 && mcus > 0 && mcus % restart == 0)
                    {
                        r.Reset();
                        while (r.Pos + 1 < data.Length && !(data[r.Pos] == 0xFF && data[r.Pos + 1] >= 0xD0 && data[r.Pos + 1] <= 0xD7)) r.Pos++;
                        r.Pos += 2;
                        foreach (var c in comps) c.Pred = 0;
                    }
                    mcus++;
                    foreach (var c in comps)
                        for (var by = 0; by < c.V; by++)
                            for (var bx = 0; bx < c.H; bx++)
                            {
                                DecodeBlock(r, c, qt[c.Tq], dc[c.Td], ac[c.Ta], block);
                                Idct(block, tmp, c.Pixels, c.BlocksW * 8, (mx * c.H + bx) * 8, (my * c.V + by) * 8);
                            }
                }
            // Skip to the next marker.
            var p = r.Pos;
            while (p + 1 < data.Length && !(data[p] == 0xFF && data[p + 1] != 0 && !(data[p + 1] >= 0xD0 && data[p + 1] <= 0xD7))) p++;
            return p;
        }

        static void DecodeBlock(BitReader r, Component c, int[] q, Huffman dc, Huffman ac, float[] block)
        {
            Array.Clear(block, 0, 64);
            var t = Decode(r, dc);
            var diff = t == 0 ? 0 : Extend(r.Bits(t), t);
            c.Pred += diff;
            block[0] = c.Pred * q[0];
            for (var k = 1; k < 64;)
            {
                var rs = Decode(r, ac);
                var s = rs & 15;
                var run = rs >> 4;
                if (s == 0)
                {
                    if (run != 15) break;
                    k += 16;
                    continue;
                }
                k += run;
                if (k > 63) throw new JpegException("bad AC run");
                block[ZigZag[k]] = Extend(r.Bits(s), s) * q[ZigZag[k]];
                k++;
            }
        }

        // Separable float IDCT of an 8x8 block, written into a component plane at (x0, y0).
        static void Idct(float[] block, float[] tmp, byte[] plane, int planeW, int x0, int y0)
        {
            var dcOnly = true;
            for (var i = 1; i < 64 && dcOnly; i++) dcOnly = block[i] == 0;
            if (dcOnly)
            {
                var v = (int)Math.Round(block[0] / 8 + 128);
                var b = (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
                for (var y = 0; y < 8; y++)
                    for (var x = 0; x < 8; x++) plane[(y0 + y) * planeW + x0 + x] = b;
                return;
            }
            for (var y = 0; y < 8; y++)
            {
                var row = y * 8;
                var zero = true;
                for (var u = 0; u < 8 && zero; u++) zero = block[row + u] == 0;
                for (var x = 0; x < 8; x++)
                {
                    if (zero) { tmp[row + x] = 0; continue; }
                    float s = 0;
                    for (var u = 0; u < 8; u++) s += IdctCos[x * 8 + u] * block[row + u];
                    tmp[row + x] = s * 0.5f;
                }
            }
            for (var x = 0; x < 8; x++)
                for (var y = 0; y < 8; y++)
                {
                    float s = 0;
                    for (var v = 0; v < 8; v++) s += IdctCos[y * 8 + v] * tmp[v * 8 + x];
                    var value = s * 0.5f + 128.5f;
                    plane[(y0 + y) * planeW + x0 + x] = (byte)(value <= 0 ? 0 : value >= 255 ? 255 : (int)value);
                }
        }

        static byte[] ToRgb(Component[] comps, int width, int height, int hmax, int vmax)
        {
            var rgb = new byte[width * height * 3];
            for (var y = 0; y < height; y++)
                for (var x = 0; x < width; x++)
                {
                    var o = (y * width + x) * 3;
                    float Y = Sample(comps[0], x, y, hmax, vmax);
                    if (comps.Length == 1)
                    {
                        rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte)Y;
                        continue;
                    }
                    var cb = Sample(comps[1], x, y, hmax, vmax) - 128f;
                    var cr = Sample(comps[2], x, y, hmax, vmax) - 128f;
                    rgb[o] = Clamp(Y + 1.402f * cr);
                    rgb[o + 1] = Clamp(Y - 0.344136f * cb - 0.714136f * cr);
                    rgb[o + 2] = Clamp(Y + 1.772f * cb);
                }
            return rgb;
        }

        static float Sample(Component c, int x, int y, int hmax, int vmax)
        {
            return c.Pixels[(y * c.V / vmax) * c.BlocksW * 8 + x * c.H / hmax];
        }

        static byte Clamp(float v)
        {
            var i = (int)Math.Round(v);
            return (byte)(i < 0 ? 0 : i > 255 ? 255 : i);
        }
    }
}
