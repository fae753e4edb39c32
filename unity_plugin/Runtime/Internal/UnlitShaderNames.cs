// Shaders to show a texture unlit, by render pipeline, and what to tell people when a player
// build has none of them: Shader.Find only finds shaders that the build includes, and a build
// strips every shader that no material in it references.
using System;

namespace Facecast.Internal
{
    public static class UnlitShaderNames
    {
        /// <summary>Unity's default Always Included Shaders list holds it, in every pipeline.</summary>
        public const string AlwaysIncluded = "UI/Default";

        /// <summary>Names to try with Shader.Find, best first: the pipeline's own unlit shader, then
        /// <see cref="AlwaysIncluded"/>.</summary>
        public static string[] Candidates(RenderPipelineKind kind)
        {
            switch (kind)
            {
                case RenderPipelineKind.Universal: return new[] { "Universal Render Pipeline/Unlit", AlwaysIncluded };
                case RenderPipelineKind.HighDefinition: return new[] { "HDRP/Unlit", AlwaysIncluded };
                case RenderPipelineKind.BuiltIn: return new[] { "Unlit/Texture", AlwaysIncluded };
                default: return new[] { AlwaysIncluded };
            }
        }

        /// <summary>The error logged when none of <paramref name="tried"/> was found.</summary>
        public static string NotFoundMessage(string[] tried)
        {
            return "facecast: none of the shaders " + string.Join(", ", Array.ConvertAll(tried, n => "'" + n + "'"))
                 + " is in this build (a player build strips shaders that no material references). "
                 + "Assign a material instead, or add '" + tried[0] + "' to Project Settings > Graphics > "
                 + "Always Included Shaders.";
        }
    }
}
