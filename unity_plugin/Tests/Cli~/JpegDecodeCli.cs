// Decodes a JPEG file with the package's decoder and writes raw RGB24 rows, for tests.
//   mono jpeg_decode_cli.exe IN.jpg OUT.rgb   (prints "WIDTH HEIGHT")
using System;
using System.IO;
using Facecast.Internal;

static class JpegDecodeCli
{
    static int Main(string[] args)
    {
        int width, height;
        var rgb = JpegDecoder.DecodeRgb(File.ReadAllBytes(args[0]), out width, out height);
        File.WriteAllBytes(args[1], rgb);
        Console.WriteLine(width + " " + height);
        return 0;
    }
}
