// Command-line harness for the package's transport core: prints one JSON object per line.
// Used by tests/test_clients.py and bench/clients.py.
//   mono facecast_client_cli.exe --connect tcp://HOST:PORT [--count N] [--timeout S] [--params-only]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using Facecast.Internal;

static class FacecastClientCli
{
    static void Emit(string json)
    {
        Console.Out.WriteLine(json);
        Console.Out.Flush();
    }

    static string Escape(string s)
    {
        return s.Replace("\\", "\\\\").Replace("\"", "\\\"");
    }

    // ,"rgb_at_4_4":[r,g,b] for pictures (the test pattern's top-left marker is red).
    static string PixelAt(FacecastMessage msg, int x, int y)
    {
        if (msg.Payload.Length == 0 || msg.Width <= x || msg.Height <= y) return "";
        var bpp = msg.Format == PixelFormat.Rgb8 ? 3 : 4;
        var o = y * msg.Stride + x * bpp;
        var bgr = msg.Format == PixelFormat.Bgra8;
        return ",\"rgb_at_4_4\":[" + msg.Payload[bgr ? o + 2 : o] + "," + msg.Payload[o + 1] + "," + msg.Payload[bgr ? o : o + 2] + "]";
    }

    // A float as JSON, with enough digits to give back the same float32.
    static string Num(float v)
    {
        return v.ToString("R", CultureInfo.InvariantCulture);
    }

    static string Array(float[] values)
    {
        if (values == null) return "null";
        var parts = new string[values.Length];
        for (int i = 0; i < values.Length; i++) parts[i] = Num(values[i]);
        return "[" + string.Join(",", parts) + "]";
    }

    // Every decoded field of msg, as JSON members (tests compare each with what the encoder sent).
    static string Fields(FacecastMessage msg)
    {
        return string.Format(CultureInfo.InvariantCulture,
            ",\"t_capture_ns\":{0},\"t_render_ns\":{1},\"t_send_ns\":{2},\"valid\":{3},\"repeated\":{4}," +
            "\"payload_crc32\":{5},\"identity\":\"{6}\",\"source\":\"{7}\",",
            msg.TCaptureNs, msg.TRenderNs, msg.TSendNs, msg.Valid ? "true" : "false", msg.Repeated ? "true" : "false",
            Crc32.Compute(msg.Payload, 0, msg.Payload.Length), Escape(msg.Identity ?? ""), Escape(msg.Source ?? "")) +
            "\"arkit\":" + Array(msg.Arkit) + ",\"flame\":" + Array(msg.Flame) + ",\"head_rad\":" + Array(msg.HeadRad) +
            ",\"eyes_rad\":" + Array(msg.EyesRad) + ",\"mouth\":\"" + Escape(msg.Mouth ?? "") + "\"";
    }

    static int Main(string[] args)
    {
        var endpoint = "tcp://127.0.0.1:5570";
        long count = 100;
        double timeoutS = 10;
        var paramsOnly = false;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--connect" && i + 1 < args.Length) endpoint = args[++i];
            else if (args[i] == "--count" && i + 1 < args.Length) count = long.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--timeout" && i + 1 < args.Length) timeoutS = double.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--params-only") paramsOnly = true;
            else
            {
                Console.Error.WriteLine("usage: facecast_client_cli.exe --connect tcp://HOST:PORT [--count N] [--timeout S] [--params-only]");
                return 2;
            }
        }
        var colon = endpoint.LastIndexOf(':');
        if (!endpoint.StartsWith("tcp://") || colon < 6)
        {
            Console.Error.WriteLine("endpoint must be tcp://HOST:PORT");
            return 2;
        }
        var host = endpoint.Substring(6, colon - 6);
        var port = int.Parse(endpoint.Substring(colon + 1), CultureInfo.InvariantCulture);

        var client = new FacecastClient();
        client.Start(host, port, paramsOnly);
        var state = ConnectionState.Disconnected;
        var seen = new Dictionary<string, long>();
        var versionReported = false;
        long frames = 0;
        var idle = Stopwatch.StartNew();
        var epochTicks = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
        while (frames < count)
        {
            var now = client.State;
            if (now != state && now != ConnectionState.Connecting)
            {
                Emit(now == ConnectionState.Connected ? "{\"event\":\"connected\"}" : "{\"event\":\"disconnected\"}");
                state = now;
            }
            foreach (var kv in client.Rejections())
            {
                long before;
                seen.TryGetValue(kv.Key, out before);
                if (kv.Value > before)
                {
                    seen[kv.Key] = kv.Value;
                    Emit("{\"event\":\"rejected\",\"reason\":\"" + Escape(kv.Key) + "\"}");
                    idle.Restart();
                }
            }
            if (!versionReported && client.VersionError != null)
            {
                versionReported = true;
                Emit("{\"event\":\"version_error\",\"message\":\"" + Escape(client.VersionError) + "\"}");
            }
            FacecastMessage msg;
            if (client.WaitLatest(5, out msg))
            {
                var wallNs = (DateTime.UtcNow.Ticks - epochTicks) * 100;
                double sum = 0;
                foreach (var w in msg.Arkit) sum += w;
                Emit(string.Format(CultureInfo.InvariantCulture,
                    "{{\"event\":\"frame\",\"seq\":{0},\"topic\":\"{1}\",\"width\":{2},\"height\":{3},\"stride\":{4}," +
                    "\"format\":\"{5}\",\"crc_ok\":{6},\"latency_ms\":{7:F3},\"payload_bytes\":{8},\"arkit_sum\":{9:F4}",
                    msg.Seq, msg.Topic, msg.Width, msg.Height, msg.Stride, msg.Format.ToString().ToLowerInvariant(),
                    msg.CrcOk == true ? "true" : "null", (wallNs - msg.TCaptureNs) / 1e6, msg.Payload.Length, sum) +
                    PixelAt(msg, 4, 4) + Fields(msg) + "}");
                frames++;
                idle.Restart();
                continue;
            }
            if (idle.Elapsed.TotalSeconds > timeoutS) break;
        }
        client.Stop();
        Emit("{\"event\":\"done\",\"frames\":" + frames + "}");
        return 0;
    }
}
