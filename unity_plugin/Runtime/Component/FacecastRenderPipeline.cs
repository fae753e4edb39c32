// Unity side of the render-pipeline choices in Internal/ (RenderPipelineKind, TexturePropertyNames,
// UnlitShaderNames): asks Unity which pipeline is active, which texture property a material
// samples, and finds an unlit shader that the build really contains.
using Facecast.Internal;
using UnityEngine;
using UnityEngine.Rendering;

namespace Facecast
{
    public static class FacecastRenderPipeline
    {
        /// <summary>The active pipeline (the quality level's pipeline asset, else the Graphics
        /// settings' one; none: built-in).</summary>
        public static RenderPipelineKind current
        {
            get
            {
                var asset = GraphicsSettings.currentRenderPipeline;
                return RenderPipelineKinds.FromAssetTypeName(asset != null ? asset.GetType().Name : null);
            }
        }

        /// <summary>The property of <paramref name="material"/> that shows a texture in the active
        /// pipeline: _MainTex (built-in), _BaseMap (URP), _BaseColorMap or _UnlitColorMap (HDRP).</summary>
        public static string TextureProperty(Material material)
        {
            if (material == null) return TexturePropertyNames.Choose(current, null);
            return TexturePropertyNames.Choose(current, material.HasProperty);
        }

        /// <summary>A new material with the pipeline's unlit shader, else UI/Default (in Unity's
        /// default Always Included Shaders); null, with an error saying what to do, when the build
        /// has neither.</summary>
        public static Material CreateUnlitMaterial(Object context = null)
        {
            var names = UnlitShaderNames.Candidates(current);
            foreach (var name in names)
            {
                var shader = Shader.Find(name);
                if (shader != null) return new Material(shader) { name = "facecast (" + name + ")" };
            }
            Debug.LogError(UnlitShaderNames.NotFoundMessage(names), context);
            return null;
        }
    }
}
