// Edit-mode tests of the comparison that makes FacecastReceiver.OnValidate restart the client when
// host, port or feed changed in the inspector during Play (CI runs them too: see BridgeProtocolTests.cs).
using Facecast.Internal;
using NUnit.Framework;

namespace Facecast.Tests
{
    public sealed class ClientEndpointTests
    {
        [Test]
        public void SameSettingsAreTheSameEndpoint()
        {
            Assert.IsTrue(new ClientEndpoint("127.0.0.1", 5570, false).Equals(new ClientEndpoint("127.0.0.1", 5570, false)));
            Assert.IsTrue(new ClientEndpoint(null, 5570, false).Equals(new ClientEndpoint("", 5570, false)));
        }

        [Test]
        public void HostPortOrFeedMakeADifferentEndpoint()
        {
            var started = new ClientEndpoint("127.0.0.1", 5570, false);
            Assert.IsFalse(started.Equals(new ClientEndpoint("192.168.0.2", 5570, false)));
            Assert.IsFalse(started.Equals(new ClientEndpoint("127.0.0.1", 5571, false)));
            Assert.IsFalse(started.Equals(new ClientEndpoint("127.0.0.1", 5570, true)));
            Assert.AreEqual("tcp://127.0.0.1:5570", started.ToString());
        }
    }
}
