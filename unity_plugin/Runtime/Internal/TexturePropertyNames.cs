// The material property that shows a texture, by render pipeline: built-in shaders sample
// _MainTex, URP's Lit/Unlit _BaseMap, HDRP's Lit _BaseColorMap and HDRP's Unlit _UnlitColorMap.
// URP and HDRP shaders also declare a hidden, unsampled _MainTex, so the pipeline's own names
// come first. Free of UnityEngine; the receiver passes Material.HasProperty in.
using System;

namespace Facecast.Internal
{
    public static class TexturePropertyNames
    {
        static readonly string[] s_builtIn = { "_MainTex" };
        static readonly string[] s_universal = { "_BaseMap", "_MainTex" };
        static readonly string[] s_highDefinition = { "_BaseColorMap", "_UnlitColorMap", "_MainTex" };
        static readonly string[] s_other = { "_BaseMap", "_BaseColorMap", "_MainTex" };

        /// <summary>Candidate names, best first.</summary>
        public static string[] Candidates(RenderPipelineKind kind)
        {
            switch (kind)
            {
                case RenderPipelineKind.BuiltIn: return (string[])s_builtIn.Clone();
                case RenderPipelineKind.Universal: return (string[])s_universal.Clone();
                case RenderPipelineKind.HighDefinition: return (string[])s_highDefinition.Clone();
                default: return (string[])s_other.Clone();
            }
        }

        /// <summary>The first candidate the material has (hasProperty null: no material), else the
        /// pipeline's usual name.</summary>
        public static string Choose(RenderPipelineKind kind, Func<string, bool> hasProperty)
        {
            var candidates = Candidates(kind);
            if (hasProperty != null)
                foreach (var name in candidates)
                    if (hasProperty(name)) return name;
            return candidates[0];
        }
    }
}
