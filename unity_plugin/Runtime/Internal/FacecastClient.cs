// Receives facecast bridge messages on a worker thread, keeps only the newest decoded one,
// and reconnects with backoff. Free of UnityEngine; FacecastReceiver wraps it for Unity.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Facecast.Internal
{
    public enum ConnectionState { Disconnected, Connecting, Connected }

    public sealed class FacecastClient
    {
        const int BackoffMinMs = 100;
        const int BackoffMaxMs = 2000;
        /// <summary>Most messages read in one go before the newest is delivered (bounds the wait
        /// when the publisher sends faster than they can be validated).</summary>
        const int MaxDrain = 64;

        readonly object _lock = new object();
        readonly Dictionary<string, long> _rejections = new Dictionary<string, long>();
        Thread _thread;
        volatile bool _stop;
        volatile ConnectionState _state = ConnectionState.Disconnected;
        FacecastMessage _latest;
        long _superseded;
        string _lastError;
        string _versionError;
        string _host;
        int _port;
        string[] _topics;

        public ConnectionState State { get { return _state; } }

        /// <summary>The last connection or protocol problem, for people; null when all is well.</summary>
        public string LastError { get { lock (_lock) return _lastError; } }

        /// <summary>Set once when the publisher speaks a newer major protocol version.</summary>
        public string VersionError { get { lock (_lock) return _versionError; } }

        /// <summary>Valid messages dropped unshown because a newer one had already arrived.</summary>
        public long Superseded { get { return Interlocked.Read(ref _superseded); } }

        public Dictionary<string, long> Rejections()
        {
            lock (_lock) return new Dictionary<string, long>(_rejections);
        }

        public void Start(string host, int port, bool parametersOnly)
        {
            Stop();
            _host = host;
            _port = port;
            _topics = new[] { parametersOnly ? BridgeProtocol.TopicParams : BridgeProtocol.TopicFrame };
            _stop = false;
            _thread = new Thread(Run) { IsBackground = true, Name = "facecast receiver" };
            _thread.Start();
        }

        /// <summary>Stops the worker (within ~100 ms) and closes the connection.</summary>
        public void Stop()
        {
            _stop = true;
            if (_thread != null) _thread.Join();
            _thread = null;
            _state = ConnectionState.Disconnected;
        }

        /// <summary>The newest message received since the last call; false if none.</summary>
        public bool TryTakeLatest(out FacecastMessage message)
        {
            lock (_lock)
            {
                message = _latest;
                _latest = null;
            }
            return message != null;
        }

        /// <summary>Like TryTakeLatest, but waits up to timeoutMs for a message to arrive
        /// (for worker threads and tools; Unity's Update should poll TryTakeLatest).</summary>
        public bool WaitLatest(int timeoutMs, out FacecastMessage message)
        {
            lock (_lock)
            {
                if (_latest == null) Monitor.Wait(_lock, timeoutMs);
                message = _latest;
                _latest = null;
            }
            return message != null;
        }

        // JPEG payloads are decoded here, on the worker thread, into RGB24 rows (top-down).
        static string DecodeJpeg(ref FacecastMessage msg)
        {
            try
            {
                int width, height;
                var rgb = JpegDecoder.DecodeRgb(msg.Payload, out width, out height);
                if (width != msg.Width || height != msg.Height)
                {
                    msg = null;
                    return "bad-jpeg";
                }
                msg.Payload = rgb;
                msg.Format = PixelFormat.Rgb8;
                msg.Stride = width * 3;
                return null;
            }
            catch (JpegException)
            {
                msg = null;
                return "bad-jpeg";
            }
        }

        void Run()
        {
            var backoff = BackoffMinMs;
            while (!_stop)
            {
                _state = ConnectionState.Connecting;
                try
                {
                    using (var sub = new ZmtpSubscriber(_host, _port, _topics, () => _stop))
                    {
                        _state = ConnectionState.Connected;
                        backoff = BackoffMinMs;
                        lock (_lock) if (_versionError == null) _lastError = null;
                        while (!_stop) ReceiveNewest(sub);
                    }
                }
                catch (OperationCanceledException) { break; }
                catch (Exception e)
                {
                    lock (_lock)
                        if (_versionError == null)
                            _lastError = _state == ConnectionState.Connected
                                ? "disconnected from " + _host + ":" + _port + " (" + e.Message + "); reconnecting"
                                : "cannot connect to " + _host + ":" + _port + "; is 'facecast run' publishing there?";
                }
                _state = ConnectionState.Disconnected;
                for (var waited = 0; waited < backoff && !_stop; waited += 10) Thread.Sleep(10);
                backoff = Math.Min(backoff * 2, BackoffMaxMs);
            }
            _state = ConnectionState.Disconnected;
        }

        /// <summary>Reads every message already waiting and validates each (so malformed ones
        /// are counted), but delivers only the newest valid one: a JPEG is decoded once, for the
        /// picture that is shown, and a slow receiver never builds up latency.</summary>
        void ReceiveNewest(ZmtpSubscriber sub)
        {
            FacecastMessage newest = null;
            var read = 0;
            do
            {
                var msg = Validate(sub.ReadMessage());
                if (msg == null) continue;
                if (newest != null) Interlocked.Increment(ref _superseded);
                newest = msg;
            } while (!_stop && sub.HasPending && ++read < MaxDrain);
            if (newest == null) return;
            if (newest.Format == PixelFormat.Jpeg)
            {
                var reason = DecodeJpeg(ref newest);
                if (reason != null)
                {
                    Count(reason);
                    return;
                }
            }
            lock (_lock)
            {
                _latest = newest;
                Monitor.PulseAll(_lock);
            }
        }

        FacecastMessage Validate(List<byte[]> parts)
        {
            string reason = null, versionError = null;
            FacecastMessage msg = null;
            if (parts.Count != 3) reason = "frame-count";
            else BridgeProtocol.TryDecode(parts[0], parts[1], parts[2], out msg, out reason, out versionError);
            if (msg != null) return msg;
            Count(reason);
            if (versionError != null)
                lock (_lock)
                    if (_versionError == null) _versionError = _lastError = versionError;
            return null;
        }

        void Count(string reason)
        {
            lock (_lock)
            {
                long n;
                _rejections.TryGetValue(reason, out n);
                _rejections[reason] = n + 1;
            }
        }
    }
}
