// What a FacecastClient was started with: host, port and feed. The receiver keeps the one it
// started with and restarts the client when the inspector's values no longer match it.
using System;

namespace Facecast.Internal
{
    public struct ClientEndpoint : IEquatable<ClientEndpoint>
    {
        public readonly string Host;
        public readonly int Port;
        public readonly bool ParametersOnly;

        public ClientEndpoint(string host, int port, bool parametersOnly)
        {
            Host = host ?? "";
            Port = port;
            ParametersOnly = parametersOnly;
        }

        public bool Equals(ClientEndpoint other)
        {
            return string.Equals(Host, other.Host, StringComparison.Ordinal) && Port == other.Port
                && ParametersOnly == other.ParametersOnly;
        }

        public override bool Equals(object obj) { return obj is ClientEndpoint && Equals((ClientEndpoint)obj); }

        public override int GetHashCode() { return (Host ?? "").GetHashCode() ^ (Port * 397) ^ (ParametersOnly ? 1 : 0); }

        public override string ToString() { return "tcp://" + Host + ":" + Port + (ParametersOnly ? " (parameters)" : ""); }
    }
}
