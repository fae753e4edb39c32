"""facecast.bridge: wire protocol v1 (PROTOCOL.md), the publisher and the reference receiver."""
