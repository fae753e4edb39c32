// facecast Unity receiver component. Speaks bridge protocol v1 (bridge/PROTOCOL.md) through
// Facecast.Internal.FacecastClient, which receives on a worker thread and keeps only the newest
// frame; this component uploads that frame on the main thread.
using System;
using System.Collections.Generic;
using Facecast.Internal;
using UnityEngine;
using UnityEngine.Events;

namespace Facecast
{
    [AddComponentMenu("Facecast/Facecast Receiver")]
    [DisallowMultipleComponent]
    public sealed class FacecastReceiver : MonoBehaviour
    {
        #region Inspector

        // Delayed: a change applies on Enter or when the field loses focus, not per keystroke (each
        // change during Play reconnects, and a half-typed host would stall the main thread).
        [SerializeField, Delayed, Tooltip("Host of the facecast publisher ('facecast run --publish').")]
        string _host = "127.0.0.1";

        [SerializeField, Delayed, Tooltip("Port of the facecast publisher.")]
        int _port = 5570;

        [SerializeField, Tooltip("Receive only the parameter feed (no pixels ever cross the network).")]
        bool _parametersOnly;

        [SerializeField, Tooltip("Optional: every frame is also blitted into this RenderTexture.")]
        RenderTexture _targetTexture;

        [SerializeField, Tooltip("Optional: the received texture is set on this renderer's material.")]
        Renderer _targetRenderer;

        [SerializeField, Tooltip("Material property that receives the texture. Empty: chosen by render pipeline " +
                                 "(_MainTex built-in, _BaseMap URP, _BaseColorMap or _UnlitColorMap HDRP).")]
        string _targetMaterialProperty = "";
        string _targetPropertySetting;
        Material _targetPropertyMaterial;
        int _targetPropertyId, _targetTilingId;

        [SerializeField, Tooltip("Invoked on the main thread after each received frame.")]
        UnityEvent<FacecastReceiver> _onFrame = new UnityEvent<FacecastReceiver>();

        #endregion

        #region Public API

        /// <summary>The newest picture, rows already in Unity's bottom-up order via UV flip
        /// (see <see cref="textureScale"/>). Null until a frame with pixels arrives.</summary>
        public Texture2D texture => _texture;

        /// <summary>facecast sends rows top-down; Unity textures are bottom-up. Sample the texture
        /// with this scale and <see cref="textureOffset"/> (the target blit and renderer use them).</summary>
        public static readonly Vector2 textureScale = new Vector2(1, -1);
        public static readonly Vector2 textureOffset = new Vector2(0, 1);

        public string host { get => _host; set { _host = value; Restart(); } }
        public int port { get => _port; set { _port = value; Restart(); } }
        public RenderTexture targetTexture { get => _targetTexture; set => _targetTexture = value; }
        public Renderer targetRenderer { get => _targetRenderer; set => _targetRenderer = value; }

        /// <summary>Material property of <see cref="targetRenderer"/> that receives the texture;
        /// empty: chosen by render pipeline (see <see cref="FacecastRenderPipeline.TextureProperty"/>).</summary>
        public string targetMaterialProperty { get => _targetMaterialProperty; set => _targetMaterialProperty = value; }

        /// <summary>The 52 ARKit weights in [0, 1], in protocol order (see <see cref="ArkitNames"/>).</summary>
        public IReadOnlyList<float> blendshapes => _weights;

        /// <summary>Weight of one ARKit blendshape ("JawOpen", "jawOpen" or "jawOpen_L" forms); 0 if unknown.</summary>
        public float GetBlendshape(string arkitName)
        {
            var i = ArkitNames.IndexOf(arkitName);
            return i < 0 ? 0 : _weights[i];
        }

        /// <summary>Head yaw, pitch, roll in radians (zero when the publisher sent none).</summary>
        public Vector3 headRotationRad { get; private set; }

        /// <summary>What drove the mouth of the newest frame: "tracker", "audio" (lip-sync) or "mixed".</summary>
        public string mouthSource { get; private set; } = "tracker";

        /// <summary>Raised on the main thread after each received frame.</summary>
        public event Action<FacecastReceiver> frameReceived;

        public ConnectionState connectionState => _client?.State ?? ConnectionState.Disconnected;
        public float latencyMs { get; private set; }
        public long lastSequence { get; private set; } = -1;
        public string statusMessage { get; private set; } = "";

        #endregion

        #region Internals

        FacecastClient _client;
        ClientEndpoint _clientEndpoint;
        volatile bool _endpointChanged;
        Texture2D _texture;
        readonly float[] _weights = new float[ArkitNames.Count];
        string _loggedError;
        MaterialPropertyBlock _block;

        void OnEnable()
        {
            _clientEndpoint = new ClientEndpoint(_host, _port, _parametersOnly);
            _endpointChanged = false;
            _client = new FacecastClient();
            _client.Start(_host, _port, _parametersOnly);
        }

        // Editor only: runs after an inspector edit, but also on load, on script reload and in edit
        // mode, possibly off the main thread, so it only compares plain fields and leaves the
        // restart to Update. _client is null unless the component is enabled in Play mode.
        void OnValidate()
        {
            if (_client != null && !_clientEndpoint.Equals(new ClientEndpoint(_host, _port, _parametersOnly)))
                _endpointChanged = true;
        }

        void OnDisable()
        {
            _client?.Stop();
            _client = null;
        }

        void OnDestroy()
        {
            if (_texture != null) Destroy(_texture);
        }

        void Restart()
        {
            if (!isActiveAndEnabled) return;
            OnDisable();
            OnEnable();
        }

        void Update()
        {
            if (_client == null) return;
            if (_endpointChanged) Restart();  // host, port or feed edited in the inspector during Play
            ReportStatusOnce();
            if (!_client.TryTakeLatest(out var msg)) return;

            Array.Copy(msg.Arkit, _weights, _weights.Length);
            headRotationRad = msg.HeadRad != null ? new Vector3(msg.HeadRad[0], msg.HeadRad[1], msg.HeadRad[2]) : Vector3.zero;
            lastSequence = (long)msg.Seq;
            latencyMs = (float)((UnixTimeNs() - msg.TCaptureNs) / 1e6);
            mouthSource = msg.Mouth;

            if (msg.Payload != null && msg.Payload.Length > 0) UploadPicture(msg);

            frameReceived?.Invoke(this);
            _onFrame.Invoke(this);
        }

        void UploadPicture(FacecastMessage msg)
        {
            // JPEG payloads arrive here already decoded to rgb8 by FacecastClient's worker thread.
            var format = msg.Format == PixelFormat.Rgb8 ? TextureFormat.RGB24
                       : msg.Format == PixelFormat.Bgra8 ? TextureFormat.BGRA32 : TextureFormat.RGBA32;
            if (_texture == null || _texture.width != msg.Width || _texture.height != msg.Height || _texture.format != format)
            {
                if (_texture != null) Destroy(_texture);
                _texture = new Texture2D(msg.Width, msg.Height, format, false) { name = "facecast", wrapMode = TextureWrapMode.Clamp };
            }
            var bpp = format == TextureFormat.RGB24 ? 3 : 4;
            if (msg.Stride == msg.Width * bpp)
                _texture.LoadRawTextureData(msg.Payload);
            else
                _texture.LoadRawTextureData(Unpad(msg.Payload, msg.Width * bpp, msg.Stride, msg.Height));
            _texture.Apply(false);

            if (_targetTexture != null)
            {
                var active = RenderTexture.active;  // Blit leaves the target active
                Graphics.Blit(_texture, _targetTexture, textureScale, textureOffset);
                RenderTexture.active = active;
            }
            if (_targetRenderer != null)
            {
                _block ??= new MaterialPropertyBlock();
                _targetRenderer.GetPropertyBlock(_block);
                ResolveTargetProperty();
                _block.SetTexture(_targetPropertyId, _texture);
                _block.SetVector(_targetTilingId, new Vector4(textureScale.x, textureScale.y, textureOffset.x, textureOffset.y));
                _targetRenderer.SetPropertyBlock(_block);
            }
        }

        // Property ids are made once per setting and material, not per frame.
        void ResolveTargetProperty()
        {
            var material = _targetRenderer.sharedMaterial;
            var setting = _targetMaterialProperty ?? "";
            if (_targetPropertySetting == setting && _targetPropertyMaterial == material) return;
            _targetPropertySetting = setting;
            _targetPropertyMaterial = material;
            var name = setting.Length == 0 ? FacecastRenderPipeline.TextureProperty(material) : setting;
            _targetPropertyId = Shader.PropertyToID(name);
            _targetTilingId = Shader.PropertyToID(name + "_ST");
        }

        static byte[] Unpad(byte[] src, int rowBytes, int stride, int height)
        {
            var dst = new byte[rowBytes * height];
            for (var y = 0; y < height; y++) Buffer.BlockCopy(src, y * stride, dst, y * rowBytes, rowBytes);
            return dst;
        }

        void ReportStatusOnce()
        {
            var error = _client.LastError ?? "";
            statusMessage = error.Length > 0 ? error : connectionState.ToString();
            if (error.Length > 0 && error != _loggedError)
            {
                Debug.LogError($"facecast: {error}", this);
                _loggedError = error;
            }
        }

        static long UnixTimeNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

        #endregion
    }
}
