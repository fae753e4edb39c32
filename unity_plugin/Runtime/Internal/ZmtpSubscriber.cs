// A ZMTP 3.0 SUB connection over TCP with the NULL mechanism (ZeroMQ RFC 23): greeting, READY,
// subscriptions, then multipart messages. One instance is one connection; FacecastClient
// reconnects by making a new one.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;

namespace Facecast.Internal
{
    public sealed class ZmtpSubscriber : IDisposable
    {
        public const long MaxMessageBytes = 64L << 20;
        const int IoTimeoutMs = 100;

        readonly TcpClient _tcp;
        readonly NetworkStream _stream;
        readonly Func<bool> _stopping;

        /// <summary>Connects and completes the handshake; throws IOException/SocketException on failure.</summary>
        public ZmtpSubscriber(string host, int port, IEnumerable<string> topics, Func<bool> stopping)
        {
            _stopping = stopping;
            _tcp = new TcpClient { NoDelay = true, ReceiveBufferSize = 1 << 20 };
            try
            {
                var connect = _tcp.ConnectAsync(host, port);
                if (!connect.Wait(500)) throw new IOException("connection timed out");
                _stream = _tcp.GetStream();
                _stream.ReadTimeout = IoTimeoutMs;
                Handshake(topics);
            }
            catch
            {
                _tcp.Close();
                throw;
            }
        }

        void Handshake(IEnumerable<string> topics)
        {
            var greeting = new byte[64];
            greeting[0] = 0xFF;
            greeting[9] = 0x7F;
            greeting[10] = 3; // version 3.0: subscriptions are sent as messages
            Encoding.ASCII.GetBytes("NULL", 0, 4, greeting, 12);
            _stream.Write(greeting, 0, 64);
            var peer = ReadExact(64);
            if (peer[0] != 0xFF || peer[9] != 0x7F || peer[10] < 3) throw new IOException("the peer is not a ZMTP 3 publisher");

            var ready = new List<byte> { 5 };
            ready.AddRange(Encoding.ASCII.GetBytes("READY"));
            ready.Add(11);
            ready.AddRange(Encoding.ASCII.GetBytes("Socket-Type"));
            ready.AddRange(new byte[] { 0, 0, 0, 3 });
            ready.AddRange(Encoding.ASCII.GetBytes("SUB"));
            WriteFrame(0x04, ready.ToArray());
            bool command;
            var body = ReadFrame(out command, out _);
            if (!command || body.Length < 6 || Encoding.ASCII.GetString(body, 1, 5) != "READY")
                throw new IOException("the peer did not complete the ZMTP handshake");
            foreach (var topic in topics)
            {
                var t = Encoding.ASCII.GetBytes(topic);
                var sub = new byte[t.Length + 1];
                sub[0] = 1;
                Buffer.BlockCopy(t, 0, sub, 1, t.Length);
                WriteFrame(0x00, sub);
            }
        }

        void WriteFrame(byte flags, byte[] body)
        {
            var frame = new byte[body.Length + 2];
            frame[0] = flags;
            frame[1] = (byte)body.Length; // all our frames are short
            Buffer.BlockCopy(body, 0, frame, 2, body.Length);
            _stream.Write(frame, 0, frame.Length);
        }

        byte[] ReadExact(int count)
        {
            var buffer = new byte[count];
            var got = 0;
            while (got < count)
            {
                if (_stopping()) throw new OperationCanceledException();
                int n;
                try { n = _stream.Read(buffer, got, count - got); }
                catch (IOException e) when (e.InnerException is SocketException se && se.SocketErrorCode == SocketError.TimedOut)
                {
                    continue; // poll the stop flag
                }
                if (n <= 0) throw new IOException("the publisher closed the connection");
                got += n;
            }
            return buffer;
        }

        byte[] ReadFrame(out bool command, out bool more)
        {
            var flags = ReadExact(1)[0];
            long size;
            if ((flags & 0x02) != 0)
            {
                var b = ReadExact(8);
                size = 0;
                for (var i = 0; i < 8; i++) size = (size << 8) | b[i];
            }
            else size = ReadExact(1)[0];
            if (size < 0 || size > MaxMessageBytes) throw new IOException("publisher sent a frame over 64 MiB");
            command = (flags & 0x04) != 0;
            more = (flags & 0x01) != 0;
            return ReadExact((int)size);
        }

        /// <summary>True when more bytes are already waiting: another message can be read without blocking.</summary>
        public bool HasPending { get { return _tcp.Available > 0; } }

        /// <summary>Blocks until the next multipart message (commands are skipped).</summary>
        public List<byte[]> ReadMessage()
        {
            var parts = new List<byte[]>();
            long total = 0;
            while (true)
            {
                bool command, more;
                var body = ReadFrame(out command, out more);
                if (command) continue;
                total += body.Length;
                if (total > MaxMessageBytes) throw new IOException("publisher sent a message over 64 MiB");
                parts.Add(body);
                if (!more) return parts;
            }
        }

        public void Dispose()
        {
            _tcp.Close();
        }
    }
}
