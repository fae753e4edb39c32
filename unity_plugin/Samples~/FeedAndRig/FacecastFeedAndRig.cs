// Sample: put the facecast feed on a quad and a UI RawImage, and drive an ARKit-named
// SkinnedMeshRenderer. Add this component to an empty GameObject in a scene with a camera,
// assign a SkinnedMeshRenderer whose blendshapes use ARKit names (e.g. "jawOpen" or "JawOpen";
// a prefix such as "blendShape1." is ignored), and press Play while 'facecast run' is publishing.
// The quad gets the Quad Material if you assign one, else a new material with the render
// pipeline's unlit shader (a player build must include that shader: see the error it logs if not).
// The UI part needs com.unity.ugui, a dependency of the package.
using Facecast;
using UnityEngine;
using UnityEngine.UI;

public sealed class FacecastFeedAndRig : MonoBehaviour
{
    [SerializeField] FacecastReceiver _receiver;
    [SerializeField] SkinnedMeshRenderer _face;
    [SerializeField, Range(0, 100)] float _weightScale = 100;
    [SerializeField, Tooltip("Optional: the quad's material (an unlit one). Empty: one is made from the render " +
                             "pipeline's unlit shader, which a player build must include.")]
    Material _quadMaterial;

    Material _createdMaterial;
    RawImage _rawImage;
    int[] _shapeToArkit;

    void Start()
    {
        if (_receiver == null) _receiver = gameObject.AddComponent<FacecastReceiver>();

        var material = _quadMaterial;
        if (material == null) material = _createdMaterial = FacecastRenderPipeline.CreateUnlitMaterial(this);
        if (material != null)  // else CreateUnlitMaterial logged what to do; the UI and the rig still work
        {
            var quad = GameObject.CreatePrimitive(PrimitiveType.Quad);
            quad.name = "facecast feed (quad)";
            quad.transform.SetParent(transform, false);
            quad.GetComponent<Renderer>().sharedMaterial = material;
            _receiver.targetRenderer = quad.GetComponent<Renderer>();
        }

        var canvas = new GameObject("facecast feed (UI)", typeof(Canvas), typeof(CanvasScaler)).GetComponent<Canvas>();
        canvas.renderMode = RenderMode.ScreenSpaceOverlay;
        _rawImage = new GameObject("RawImage", typeof(RawImage)).GetComponent<RawImage>();
        _rawImage.transform.SetParent(canvas.transform, false);
        _rawImage.rectTransform.anchorMin = _rawImage.rectTransform.anchorMax = new Vector2(1, 1);
        _rawImage.rectTransform.pivot = new Vector2(1, 1);
        _rawImage.rectTransform.sizeDelta = new Vector2(256, 256);
        _rawImage.uvRect = new Rect(0, 1, 1, -1); // facecast rows are top-down

        if (_face != null)
        {
            var mesh = _face.sharedMesh;
            _shapeToArkit = new int[mesh.blendShapeCount];
            for (var i = 0; i < mesh.blendShapeCount; i++)
            {
                var name = mesh.GetBlendShapeName(i);
                var dot = name.LastIndexOf('.');
                _shapeToArkit[i] = ArkitNames.IndexOf(dot >= 0 ? name.Substring(dot + 1) : name);
            }
        }
        _receiver.frameReceived += OnFrame;
    }

    void OnDestroy()
    {
        if (_receiver != null) _receiver.frameReceived -= OnFrame;
        if (_createdMaterial != null) Destroy(_createdMaterial);
    }

    void OnFrame(FacecastReceiver receiver)
    {
        if (receiver.texture != null) _rawImage.texture = receiver.texture;
        if (_face == null) return;
        for (var i = 0; i < _shapeToArkit.Length; i++)
            if (_shapeToArkit[i] >= 0)
                _face.SetBlendShapeWeight(i, receiver.blendshapes[_shapeToArkit[i]] * _weightScale);
    }
}
