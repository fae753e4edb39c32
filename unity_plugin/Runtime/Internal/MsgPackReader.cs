// A minimal, bounds-checked MessagePack reader for the bridge protocol header.
using System;
using System.Collections.Generic;
using System.Text;

namespace Facecast.Internal
{
    public enum MsgKind { Nil, Bool, Int, UInt, Float, Str, Bin, Array, Map, Ext }

    public sealed class MsgValue
    {
        public MsgKind Kind;
        public bool Bool;
        public long Int;
        public ulong UInt;
        public double Float;
        public string Str;
        public byte[] Bin;
        public List<MsgValue> Items;

        public bool IsInteger { get { return Kind == MsgKind.Int || Kind == MsgKind.UInt; } }
        public bool IsNumber { get { return IsInteger || Kind == MsgKind.Float; } }
        public double AsDouble { get { return Kind == MsgKind.Float ? Float : Kind == MsgKind.Int ? Int : (double)UInt; } }
    }

    public sealed class MsgPackException : Exception
    {
        public MsgPackException(string message) : base(message) { }
    }

    public sealed class MsgPackReader
    {
        const int MaxDepth = 16;
        readonly byte[] _data;
        int _pos;
        readonly int _end;

        public MsgPackReader(byte[] data) { _data = data; _pos = 0; _end = data.Length; }

        public bool AtEnd { get { return _pos == _end; } }

        /// <summary>Reads the top-level map of string keys. Throws MsgPackException when malformed.</summary>
        public Dictionary<string, MsgValue> ReadHeader()
        {
            var v = Read(0);
            if (v.Kind != MsgKind.Map || v.Items == null) throw new MsgPackException("header is not a map");
            var map = new Dictionary<string, MsgValue>();
            for (var i = 0; i < v.Items.Count; i += 2)
            {
                if (v.Items[i].Kind != MsgKind.Str) throw new MsgPackException("header key is not a string");
                map[v.Items[i].Str] = v.Items[i + 1];
            }
            return map;
        }

        byte Byte()
        {
            if (_pos >= _end) throw new MsgPackException("truncated");
            return _data[_pos++];
        }

        ulong Be(int n)
        {
            if (_end - _pos < n) throw new MsgPackException("truncated");
            ulong x = 0;
            for (var i = 0; i < n; i++) x = (x << 8) | _data[_pos++];
            return x;
        }

        byte[] Bytes(ulong n)
        {
            if ((ulong)(_end - _pos) < n) throw new MsgPackException("truncated");
            var b = new byte[n];
            Buffer.BlockCopy(_data, _pos, b, 0, (int)n);
            _pos += (int)n;
            return b;
        }

        MsgValue Skip(ulong n)
        {
            if ((ulong)(_end - _pos) < n) throw new MsgPackException("truncated");
            _pos += (int)n;
            return new MsgValue { Kind = MsgKind.Ext };
        }

        // Strict UTF-8, as the Python reference decoder: invalid bytes make the header malformed.
        static readonly UTF8Encoding s_strictUtf8 = new UTF8Encoding(false, true);

        MsgValue Str(ulong n)
        {
            try { return new MsgValue { Kind = MsgKind.Str, Str = s_strictUtf8.GetString(Bytes(n)) }; }
            catch (DecoderFallbackException) { throw new MsgPackException("string is not UTF-8"); }
        }
        MsgValue BinOf(ulong n) { return new MsgValue { Kind = MsgKind.Bin, Bin = Bytes(n) }; }

        MsgValue Array(ulong n, int depth, bool isMap)
        {
            var count = isMap ? 2 * n : n;
            if (count > (ulong)(_end - _pos)) throw new MsgPackException("truncated");
            var items = new List<MsgValue>((int)count);
            for (ulong i = 0; i < count; i++) items.Add(Read(depth + 1));
            return new MsgValue { Kind = isMap ? MsgKind.Map : MsgKind.Array, Items = items };
        }

        public MsgValue Read(int depth)
        {
            if (depth > MaxDepth) throw new MsgPackException("nested too deep");
            var t = Byte();
            if (t <= 0x7f) return new MsgValue { Kind = MsgKind.UInt, UInt = t };
            if (t >= 0xe0) return new MsgValue { Kind = MsgKind.Int, Int = (sbyte)t };
            if ((t & 0xf0) == 0x80) return Array((ulong)(t & 0x0f), depth, true);
            if ((t & 0xf0) == 0x90) return Array((ulong)(t & 0x0f), depth, false);
            if ((t & 0xe0) == 0xa0) return Str((ulong)(t & 0x1f));
            switch (t)
            {
                case 0xc0: return new MsgValue { Kind = MsgKind.Nil };
                case 0xc2: return new MsgValue { Kind = MsgKind.Bool, Bool = false };
                case 0xc3: return new MsgValue { Kind = MsgKind.Bool, Bool = true };
                case 0xc4: return BinOf(Be(1));
                case 0xc5: return BinOf(Be(2));
                case 0xc6: return BinOf(Be(4));
                case 0xc7: return Skip(1 + Be(1));
                case 0xc8: return Skip(1 + Be(2));
                case 0xc9: return Skip(1 + Be(4));
                case 0xca: return new MsgValue { Kind = MsgKind.Float, Float = BitConverter.ToSingle(BitConverter.GetBytes((uint)Be(4)), 0) };
                case 0xcb: return new MsgValue { Kind = MsgKind.Float, Float = BitConverter.Int64BitsToDouble((long)Be(8)) };
                case 0xcc: return new MsgValue { Kind = MsgKind.UInt, UInt = Be(1) };
                case 0xcd: return new MsgValue { Kind = MsgKind.UInt, UInt = Be(2) };
                case 0xce: return new MsgValue { Kind = MsgKind.UInt, UInt = Be(4) };
                case 0xcf: return new MsgValue { Kind = MsgKind.UInt, UInt = Be(8) };
                case 0xd0: return new MsgValue { Kind = MsgKind.Int, Int = (sbyte)Be(1) };
                case 0xd1: return new MsgValue { Kind = MsgKind.Int, Int = (short)Be(2) };
                case 0xd2: return new MsgValue { Kind = MsgKind.Int, Int = (int)Be(4) };
                case 0xd3: return new MsgValue { Kind = MsgKind.Int, Int = (long)Be(8) };
                case 0xd4: return Skip(2);
                case 0xd5: return Skip(3);
                case 0xd6: return Skip(5);
                case 0xd7: return Skip(9);
                case 0xd8: return Skip(17);
                case 0xd9: return Str(Be(1));
                case 0xda: return Str(Be(2));
                case 0xdb: return Str(Be(4));
                case 0xdc: return Array(Be(2), depth, false);
                case 0xdd: return Array(Be(4), depth, false);
                case 0xde: return Array(Be(2), depth, true);
                case 0xdf: return Array(Be(4), depth, true);
                default: throw new MsgPackException("invalid type byte 0x" + t.ToString("x2"));
            }
        }
    }
}
